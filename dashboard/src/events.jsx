// Events: the live feed (newest first), filters on every enriched field, an event's detail
// with its properties, session and user.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { country, shortTime } from './format.js';
import { useAsync } from './hooks.js';
import { follow } from './live.js';
import { addFilter, filtersOf, go, href, withParams } from './route.js';

export const FIELDS = [
  'event', 'type', 'channel', 'path', 'url', 'title', 'referrer', 'referrer_domain', 'utm_source',
  'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'country', 'region', 'city', 'browser',
  'browser_version', 'os', 'os_version', 'device_type', 'device_brand', 'device_model', 'locale',
  'screen', 'visitor_id', 'user_id', 'session_id', 'message_id', 'is_bot',
];
const MAX_ROWS = 200;

function FilterForm({ params }) {
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const value = form.get('value').trim();
    if (value) go('events', addFilter(params, form.get('field'), value));
  };
  return (
    <form class="filter-form" onSubmit={submit} role="search" aria-label="Filter events">
      <label>
        <span class="sr-only">Field</span>
        <select name="field">
          {FIELDS.map((f) => (
            <option value={f}>{f}</option>
          ))}
        </select>
      </label>
      <label class="grow">
        <span class="sr-only">Value</span>
        <input name="value" placeholder="equals… (e.g. Chrome, /pricing, GB)" />
      </label>
      <button type="submit">Add filter</button>
    </form>
  );
}

function Detail({ id, onClose, onFilter }) {
  const event = useAsync((signal) => api(`/v1/events/${encodeURIComponent(id)}`, { signal }), [id]);
  const e = event.data;
  const sessionRows = useAsync(
    (signal) => (e?.session_id ? api('/v1/sessions', { query: { session_id: e.session_id, limit: 1 }, signal }) : Promise.resolve(null)),
    [e?.session_id],
  );
  const s = sessionRows.data?.sessions?.[0];
  return (
    <aside class="card detail" aria-labelledby="detail-title">
      <header class="card-head">
        <h2 id="detail-title">{e ? e.event || e.type : 'Event'}</h2>
        <button type="button" class="ghost" onClick={onClose} aria-label="Close event detail">×</button>
      </header>
      {event.error && <p class="error" role="alert">{event.error.message}</p>}
      {e && (
        <>
          <dl class="facts">
            {Object.entries(e)
              .filter(([k, v]) => k !== 'properties' && k !== 'traits' && v !== '' && v !== null && typeof v !== 'object')
              .map(([k, v]) => (
                <>
                  <dt>{k}</dt>
                  <dd>
                    {k === 'user_id' ? (
                      <a href={href('users', new URLSearchParams({ user: v }))}>{String(v)}</a>
                    ) : FIELDS.includes(k) ? (
                      <button type="button" class="pick" title={`Show events where ${k} is ${v}`} onClick={() => onFilter(k, String(v))}>
                        {String(v)}
                      </button>
                    ) : (
                      String(v)
                    )}
                  </dd>
                </>
              ))}
          </dl>
          <h3>Properties</h3>
          <pre>{JSON.stringify(e.properties || {}, null, 2)}</pre>
          {e.traits && Object.keys(e.traits).length > 0 && (
            <>
              <h3>Traits</h3>
              <pre>{JSON.stringify(e.traits, null, 2)}</pre>
            </>
          )}
          {s && (
            <>
              <h3>Session</h3>
              <p>
                {s.events} events, {s.pageviews} pageviews, {Math.round((s.duration_ms || 0) / 1000)} s, entry {s.entry_path || '—'}, exit {s.exit_path || '—'}
                {s.is_bounce ? ' (bounce)' : ''}
              </p>
            </>
          )}
        </>
      )}
    </aside>
  );
}

export function Events({ params }) {
  const filters = Object.fromEntries(filtersOf(params));
  const key = JSON.stringify(filters);
  const [rows, setRows] = useState([]);
  const [mode, setMode] = useState('connecting');
  const selected = params.get('event');
  useEffect(() => {
    setRows([]);
    const stop = follow(
      filters,
      (incoming) =>
        setRows((old) => {
          const seen = new Set(old.map((r) => r.id));
          const fresh = incoming.filter((r) => !seen.has(r.id));
          if (!fresh.length) return old;
          return [...fresh, ...old].sort((a, b) => (a.timestamp < b.timestamp ? 1 : -1)).slice(0, MAX_ROWS);
        }),
      setMode,
    );
    return stop;
  }, [key]);
  return (
    <div class="events">
      <FilterForm params={params} />
      <div class="split">
        <section class="card wide" aria-labelledby="feed-title">
          <header class="card-head">
            <h2 id="feed-title">Events</h2>
            <span class="feed-mode" aria-live="polite">
              <span class="pulse" aria-hidden="true" /> {mode === 'live' ? 'live' : mode === 'polling' ? 'live (polling every 2 s)' : 'connecting…'}
            </span>
          </header>
          <div class="scroll">
            <table class="feed">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Event</th>
                  <th scope="col">Page</th>
                  <th scope="col" class="hide-narrow">Who</th>
                  <th scope="col" class="hide-narrow">Where</th>
                  <th scope="col" class="hide-narrow">Browser</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr class={r.id === selected ? 'selected' : ''} data-event-id={r.id}>
                    <td class="nowrap">{shortTime(r.timestamp)}</td>
                    <td>
                      <button type="button" class="row-pick" onClick={() => go('events', withParams(params, { event: r.id }))}>
                        {r.type === 'page' ? 'pageview' : r.event || r.type}
                      </button>
                    </td>
                    <td class="clip">{r.path}</td>
                    <td class="hide-narrow clip">{r.user_id || r.visitor_id}</td>
                    <td class="hide-narrow">{r.country ? country(r.country) : ''}</td>
                    <td class="hide-narrow">{[r.browser, r.os].filter(Boolean).join(' · ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {!rows.length && <p class="empty">No events yet{mode === 'connecting' ? '' : ' — waiting for new ones'}.</p>}
          </div>
        </section>
        {selected && (
          <Detail
            id={selected}
            onClose={() => go('events', withParams(params, { event: null }))}
            onFilter={(field, value) => go('events', addFilter(params, field, value))}
          />
        )}
      </div>
    </div>
  );
}
