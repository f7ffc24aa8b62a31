// The edge's public APIs, with the key of this browser session (sessionStorage only).
const STORE = 'trackhouse.key';
const WHO = 'trackhouse.who';

export const session = {
  key: () => sessionStorage.getItem(STORE),
  save: (key) => sessionStorage.setItem(STORE, key),
  /** The last ``GET /v1/dashboard/session`` answer for this key (not a secret), or null. */
  who: () => {
    try {
      return JSON.parse(sessionStorage.getItem(WHO));
    } catch {
      return null;
    }
  },
  remember: (who) => sessionStorage.setItem(WHO, JSON.stringify(who)),
  clear: () => {
    sessionStorage.removeItem(STORE);
    sessionStorage.removeItem(WHO);
  },
};

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** fetch() a JSON API with the session's key as a Bearer token; errors as ApiError. */
export async function api(path, { method = 'GET', body, query, key, signal, priority } = {}) {
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
      priority,
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

// Request order. A browser opens at most 6 connections to a host (HTTP/1.1), and the server
// answers heavy reads in the order they arrive: the top stats and the chart (FIRST) are sent at
// once; the cards (LATER) wait until no FIRST request is in flight, then go at most CARD_SLOTS at a
// time, so a filter click's FIRST requests always find a free connection. A card request
// aborted while it waits is never sent.
export const FIRST = 0;
export const LATER = 1;
const CARD_SLOTS = 4;
let first = 0;
let cards = 0;
const waiting = [];

/** Is any stats request in flight or waiting? (A refresh then waits for its next turn.) */
export const busy = () => first + cards + waiting.length > 0;

function pump() {
  while (first === 0 && cards < CARD_SLOTS && waiting.length) {
    cards += 1;
    waiting.shift().start();
  }
}

function scheduled(priority, task, signal) {
  if (priority === FIRST) {
    first += 1;
    return task().finally(() => {
      first -= 1;
      pump();
    });
  }
  return new Promise((resolve, reject) => {
    const entry = {
      start: () =>
        task()
          .then(resolve, reject)
          .finally(() => {
            cards -= 1;
            pump();
          }),
    };
    signal?.addEventListener('abort', () => {
      const at = waiting.indexOf(entry);
      if (at < 0) return;
      waiting.splice(at, 1);
      reject(new DOMException('stale request', 'AbortError'));
    });
    waiting.push(entry);
    // after the rest of this render's effects: a FIRST request they make goes before this one
    queueMicrotask(pump);
  });
}

/** ``api(path, options)`` in the cards' turn: for reads the first paint does not need (the
 * current-visitor count, the goal list, a session re-check), which would otherwise reach the
 * server before the figures. */
export const later = (path, options = {}) => scheduled(LATER, () => api(path, options), options.signal);

// Answers of the last few seconds, by request: a tab clicked back, or a filter removed, shows
// again at once; the refresh asks with ``fresh`` and so always reaches the server.
const recent = new Map();
const RECENT_MS = 5000;

/** POST /api/v2/query for the site, in its turn (``priority``); ``fresh`` skips the short cache. */
export async function stats(site, body, signal, { priority = LATER, fresh = false } = {}) {
  const request = { site_id: site, ...body };
  const key = JSON.stringify(request);
  const kept = recent.get(key);
  if (!fresh && kept && performance.now() - kept.at < RECENT_MS) return kept.data;
  const data = await scheduled(
    priority,
    () => api('/api/v2/query', { method: 'POST', body: request, signal, priority: priority === FIRST ? 'high' : 'low' }),
    signal,
  );
  recent.set(key, { at: performance.now(), data });
  if (recent.size > 200) recent.delete(recent.keys().next().value);
  return data;
}
