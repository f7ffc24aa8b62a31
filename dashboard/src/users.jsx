// A user's profile: traits, first-touch attribution, counts, sessions and recent events.
import { api } from './api.js';
import { country, duration, money, number, time } from './format.js';
import { useAsync } from './hooks.js';
import { go, href } from './route.js';

function Lookup({ user }) {
  const submit = (event) => {
    event.preventDefault();
    const id = new FormData(event.currentTarget).get('user').trim();
    if (id) go('users', new URLSearchParams({ user: id }));
  };
  return (
    <form class="filter-form" onSubmit={submit} role="search" aria-label="Find a user">
      <label class="grow">
        <span class="sr-only">User id</span>
        <input name="user" defaultValue={user || ''} placeholder="user id (e.g. usr_42)" />
      </label>
      <button type="submit">Show profile</button>
    </form>
  );
}

function Facts({ value }) {
  const entries = Object.entries(value || {}).filter(([, v]) => v !== '' && v !== null);
  if (!entries.length) return <p class="muted">none</p>;
  return (
    <dl class="facts">
      {entries.map(([k, v]) => (
        <>
          <dt>{k}</dt>
          <dd>{typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd>
        </>
      ))}
    </dl>
  );
}

export function Users({ params }) {
  const user = params.get('user');
  const state = useAsync((signal) => (user ? api(`/v1/users/${encodeURIComponent(user)}`, { signal }) : Promise.resolve(null)), [user]);
  const p = state.data;
  return (
    <div class="users">
      <Lookup user={user} />
      {state.error && <p class="error" role="alert">{state.error.status === 404 ? `No user “${user}” in this project.` : state.error.message}</p>}
      {p && (
        <div class="grid">
          <section class="card" aria-labelledby="user-title">
            <h2 id="user-title">{p.user_id}</h2>
            <p class="muted">
              First seen {time(p.first_seen)} · last seen {time(p.last_seen)}
            </p>
            <p>
              {number(p.counts.events)} events · {number(p.counts.pageviews)} pageviews · {number(p.counts.sessions)} sessions
              {p.revenue.map((r) => ` · ${money(r.total, r.currency)}`)}
            </p>
            <h3>Traits</h3>
            <Facts value={p.traits} />
            <h3>First touch</h3>
            <Facts value={p.first_touch} />
          </section>
          <section class="card" aria-labelledby="sessions-title">
            <h2 id="sessions-title">Sessions</h2>
            <ul class="timeline">
              {p.sessions.map((s) => (
                <li>
                  <strong>{time(s.start)}</strong> · {duration(s.duration_ms / 1000)} · {s.pageviews} pageviews · {s.entry_path} → {s.exit_path}
                  <span class="muted"> · {[s.referrer_domain || 'direct', s.browser, s.os, country(s.country)].filter(Boolean).join(' · ')}</span>
                </li>
              ))}
            </ul>
          </section>
          <section class="card wide" aria-labelledby="timeline-title">
            <h2 id="timeline-title">Recent events</h2>
            <ul class="timeline">
              {p.recent_events.map((e) => (
                <li>
                  <a href={href('events', new URLSearchParams({ event: e.id }))}>{e.type === 'page' ? 'pageview' : e.event || e.type}</a> {e.path}{' '}
                  <span class="muted">{time(e.timestamp)}</span>
                </li>
              ))}
            </ul>
          </section>
        </div>
      )}
    </div>
  );
}
