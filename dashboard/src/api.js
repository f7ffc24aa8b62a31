// The edge's public APIs, with the key of this browser session (sessionStorage only).
const STORE = 'trackhouse.key';

export const session = {
  key: () => sessionStorage.getItem(STORE),
  save: (key) => sessionStorage.setItem(STORE, key),
  clear: () => sessionStorage.removeItem(STORE),
};

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** fetch() a JSON API with the session's key as a Bearer token; errors as ApiError. */
export async function api(path, { method = 'GET', body, query, key, signal } = {}) {
  const headers = {};
  const secret = key || session.key();
  if (secret) headers.Authorization = `Bearer ${secret}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const url = query ? `${path}?${new URLSearchParams(query)}` : path;
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'The server did not answer (is it running?)');
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!response.ok) {
    const message =
      (data && typeof data === 'object' && (data.message || data.error)) ||
      `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, String(message), data);
  }
  return data;
}

/** POST /api/v2/query for the site. */
export const stats = (site, body, signal) =>
  api('/api/v2/query', { method: 'POST', body: { site_id: site, ...body }, signal });
