// A card of tabs, each a top-10 breakdown by one dimension; a row's button filters the view.
import { useState } from 'preact/hooks';
import { stats } from './api.js';
import { number, percent } from './format.js';
import { useAsync } from './hooks.js';
import { queryBase } from './route.js';

const HEADS = { visitors: 'Visitors', visits: 'Visits', pageviews: 'Pageviews', events: 'Events', conversion_rate: 'CR' };

/** Left/Right/Home/End move between tabs (WAI-ARIA tabs pattern). */
function arrows(event, count, index, setIndex) {
  const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: count - 1 };
  if (!(event.key in moves)) return;
  event.preventDefault();
  const next = (moves[event.key] + count) % count;
  setIndex(next);
  event.currentTarget.children[next].focus();
}

/** The view's filters and a tab's own (e.g. top pages count page views only). */
function withFilters(query, extra) {
  if (!extra) return query;
  return { ...query, filters: [...(query.filters || []), ...extra] };
}

export function Breakdown({ title, tabs, site, params, onPick, renderMap }) {
  const [index, setIndex] = useState(0);
  const tab = tabs[index];
  const id = `panel-${title.replace(/\W+/g, '-').toLowerCase()}`;
  const state = useAsync(
    (signal) =>
      stats(site, withFilters({ ...queryBase(params), metrics: tab.metrics, dimensions: [tab.dim], order_by: [[tab.metrics[0], 'desc']], pagination: { limit: tab.map ? 250 : 10 } }, tab.filters), signal),
    [site, params.toString(), tab.dim, tab.map],
  );
  const rows = state.data?.results || [];
  const top = Math.max(1, ...rows.map((r) => r.metrics[0]));
  return (
    <section class="card" aria-labelledby={`${id}-title`} data-panel={title}>
      <header class="card-head">
        <h2 id={`${id}-title`}>{title}</h2>
        {tabs.length > 1 && (
          <div class="tabs" role="tablist" aria-label={`${title} by`} onKeyDown={(e) => arrows(e, tabs.length, index, setIndex)}>
            {tabs.map((t, i) => (
              <button type="button" role="tab" tabIndex={i === index ? 0 : -1} aria-selected={i === index} aria-controls={id} onClick={() => setIndex(i)}>
                {t.label}
              </button>
            ))}
          </div>
        )}
      </header>
      <div id={id} role="tabpanel">
        {state.error ? (
          <p class="error" role="alert">{state.error.message}</p>
        ) : !rows.length ? (
          <p class="empty">{state.loading ? 'Loading…' : 'No data yet'}</p>
        ) : tab.map ? (
          renderMap(rows)
        ) : (
          <table class="breakdown">
            <thead>
              <tr>
                <th scope="col">{tab.label}</th>
                {tab.metrics.map((m) => (
                  <th scope="col" class="num">{HEADS[m]}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => {
                const value = r.dimensions[0];
                const name = tab.name ? tab.name(value) : value;
                return (
                  <tr>
                    <td>
                      <span class="bar" style={`width:${(100 * r.metrics[0]) / top}%`} aria-hidden="true" />
                      <button type="button" class="row-pick" onClick={() => onPick(tab.dim, value)} title={`Filter by ${name}`}>
                        {name}
                      </button>
                    </td>
                    {r.metrics.map((v, i) => (
                      <td class="num">{tab.metrics[i] === 'conversion_rate' ? percent(v) : number(v)}</td>
                    ))}
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}
