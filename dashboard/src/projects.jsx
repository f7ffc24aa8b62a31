// Projects and keys (admin token): list and create projects, rotate and revoke keys, make a
// read-only share link, register a website and show its tracking snippet.
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { time } from './format.js';
import { useAsync } from './hooks.js';

function Secret({ label, value }) {
  return (
    <p class="secret">
      {label}: <code>{value}</code> <span class="muted">(shown once)</span>
    </p>
  );
}

function snippet(writeKey) {
  const host = location.origin;
  return `<script src="${host}/t.js" data-key="${writeKey || 'thw_…'}" defer></script>`;
}

function Keys({ project }) {
  const [tick, setTick] = useState(0);
  const [shown, setShown] = useState(null);
  const [error, setError] = useState(null);
  const keys = useAsync((signal) => api(`/admin/v1/projects/${project}/keys`, { signal }), [project, tick]);
  const act = async (work) => {
    setError(null);
    try {
      setShown(await work());
      setTick(tick + 1);
    } catch (err) {
      setError(err.message);
    }
  };
  const rotate = (kind) =>
    act(async () => {
      const answer = await api(`/admin/v1/projects/${project}/keys/rotate`, { method: 'POST', body: { kind } });
      return { label: `New ${kind} key`, value: answer.key };
    });
  const revoke = (prefix) =>
    act(async () => {
      await api('/admin/v1/keys/revoke', { method: 'POST', body: { key: prefix } });
      return null;
    });
  const share = () =>
    act(async () => {
      const answer = await api(`/admin/v1/projects/${project}/share`, { method: 'POST', body: {} });
      const link = `${location.origin}/#/overview?${new URLSearchParams({ site: project, auth: answer.token })}`;
      return { label: 'Read-only share link', value: link };
    });
  return (
    <div class="keys">
      {error && <p class="error" role="alert">{error}</p>}
      {shown && <Secret {...shown} />}
      <table>
        <thead>
          <tr>
            <th scope="col">Key</th>
            <th scope="col">Kind</th>
            <th scope="col" class="hide-narrow">Created</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {(keys.data?.keys || []).map((k) => (
            <tr>
              <td>
                <code>{k.prefix}…</code>
              </td>
              <td>{k.kind}</td>
              <td class="hide-narrow">{time(k.created_at)}</td>
              <td>
                {k.revoked ? (
                  <span class="muted">revoked</span>
                ) : (
                  <button type="button" class="danger" onClick={() => revoke(k.prefix)} aria-label={`Revoke key ${k.prefix}`}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="row">
        <button type="button" onClick={() => rotate('write')}>Rotate write key</button>
        <button type="button" onClick={() => rotate('secret')}>Rotate secret key</button>
        <button type="button" onClick={share}>Create share link</button>
      </div>
    </div>
  );
}

function CreateProject({ onCreated }) {
  const [made, setMade] = useState(null);
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setError(null);
    try {
      const name = form.get('name').trim();
      const domain = form.get('domain').trim();
      const answer = domain
        ? await api('/api/v1/websites', { method: 'POST', body: { name, domain } })
        : await api('/admin/v1/projects', { method: 'POST', body: { name } });
      setMade(answer);
      onCreated();
    } catch (err) {
      setError(err.message);
    }
  };
  const writeKey = made && (made.write_key || made.writeKey);
  return (
    <form class="card" onSubmit={submit} aria-labelledby="new-project">
      <h2 id="new-project">New project or website</h2>
      <div class="row">
        <label class="grow">
          Name <input name="name" required maxLength={200} />
        </label>
        <label class="grow">
          Website domain (optional) <input name="domain" placeholder="example.com" />
        </label>
        <button type="submit" class="primary">Create</button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {made && (
        <div>
          <Secret label="Write key" value={writeKey} />
          <Secret label="Secret key" value={made.secret_key || made.secretKey} />
          {made.trackingCode && <p>Tracking code: <code>{made.trackingCode}</code></p>}
          <label for="snippet">Tracking snippet</label>
          <textarea id="snippet" readOnly rows={3} value={snippet(writeKey)} />
        </div>
      )}
    </form>
  );
}

export function Projects() {
  const [tick, setTick] = useState(0);
  const [open, setOpen] = useState(null);
  const state = useAsync((signal) => api('/admin/v1/projects', { signal }), [tick]);
  return (
    <div class="projects">
      <CreateProject onCreated={() => setTick(tick + 1)} />
      {state.error && <p class="error" role="alert">{state.error.message}</p>}
      {(state.data?.projects || []).map((p) => (
        <section class="card" aria-labelledby={`p-${p.project_id}`}>
          <header class="card-head">
            <h2 id={`p-${p.project_id}`}>{p.name}</h2>
            <button type="button" aria-expanded={open === p.project_id} onClick={() => setOpen(open === p.project_id ? null : p.project_id)}>
              {open === p.project_id ? 'Hide keys' : 'Keys'}
            </button>
          </header>
          <p class="muted">
            <code>{p.project_id}</code> · {p.active_keys ?? '?'} active keys
          </p>
          {open === p.project_id && <Keys project={p.project_id} />}
        </section>
      ))}
    </div>
  );
}
