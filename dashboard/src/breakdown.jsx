// A card of tabs, each a top-10 breakdown by one dimension ("Show more" pages further); a row's
// button filters the view.
import { useEffect, useState } from 'preact/hooks';
import { stats } from './api.js';
import { number, percent } from './format.js';
import { useAsync } from './hooks.js';
import { cardReady } from './paint.js';
import { queryBase } from './route.js';

const FIRST_PAGE = 10;
const MORE_PAGE = 25;

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

/** Skeleton rows while a card's first answer loads. */
export function Skeleton({ rows = 5 }) {
  return (
    <div class="skeleton-rows" aria-hidden="true">
      {Array.from({ length: rows }, (_, i) => (
        <span class="skeleton" style={`width:${90 - i * 12}%`} />
      ))}
    </div>
  );
}

export function Breakdown({ title, tabs, site, params, onPick, renderMap, tick = 0, cards = 1 }) {
  const [index, setIndex] = useState(0);
  const [more, setMore] = useState({ rows: [], full: false, loading: false, error: null });
  const tab = tabs[index];
  const id = `panel-${title.replace(/\W+/g, '-').toLowerCase()}`;
  const page = (limit, offset, signal, fresh) =>
    stats(
      site,
      withFilters({ ...queryBase(params), metrics: tab.metrics, dimensions: [tab.dim], order_by: [[tab.metrics[0], 'desc']], pagination: { limit, offset } }, tab.filters),
      signal,
      { fresh },
    );
  const state = useAsync((signal) => page(tab.map ? 250 : FIRST_PAGE, 0, signal, tick > 0), [site, params.toString(), tab.dim, tab.map, tick]);
  useEffect(() => setMore({ rows: [], full: false, loading: false, error: null }), [site, params.toString(), tab.dim]);
  useEffect(() => {
    if (state.data) cardReady(title, cards);
  }, [state.data]);
  async function showMore() {
    const shown = (state.data?.results || []).length + more.rows.length;
    setMore({ ...more, loading: true });
    try {
      const next = (await page(MORE_PAGE, shown)).results || [];
      setMore({ rows: [...more.rows, ...next], full: next.length === MORE_PAGE, loading: false, error: null });
    } catch (error) {
      setMore({ ...more, loading: false, error });
    }
  }
  const first = state.data?.results || [];
  const rows = [...first, ...more.rows];
  const moreLeft = !tab.map && (more.rows.length ? more.full : first.length === FIRST_PAGE);
  const top = Math.max(1, ...rows.map((r) => r.metrics[0]));
  return (
    <section class="card" aria-labelledby={`${id}-title`} aria-busy={state.loading ? 'true' : 'false'} data-panel={title}>
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
          state.loading ? <Skeleton /> : <p class="empty">No data yet</p>
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
        {more.error && <p class="error" role="alert">{more.error.message}</p>}
        {moreLeft && !state.error && (
          <button type="button" class="more" onClick={showMore} disabled={more.loading}>
            {more.loading ? 'Loading…' : 'Show more'}
          </button>
        )}
      </div>
    </section>
  );
}
