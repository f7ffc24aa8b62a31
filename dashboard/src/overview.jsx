// The web analytics overview (Plausible-class) on the stats API: figures with their change,
// the time series, and breakdowns whose rows filter the whole view.
import { useEffect, useState } from 'preact/hooks';
import { FIRST, LATER, busy, later, stats } from './api.js';
import { Chart } from './chart.jsx';
import { country, duration, money, number, percent } from './format.js';
import { useAsync, useInterval } from './hooks.js';
import { WorldMap } from './map.jsx';
import { addFilter, go, queryBase, withParams } from './route.js';
import { Breakdown } from './breakdown.jsx';
import { cardReady, markOnce } from './paint.js';

// The overview's cards with data to wait for: the figures, the chart and the five panels.
const CARDS = 7;
// While the range reaches today the figures and chart refresh every REFRESH_MS, the panels every
// CARD_EVERY-th time; a refresh is skipped while any answer is still on its way (no pile-up)
// or the tab is hidden, and a range that ended before today never refreshes.
const REFRESH_MS = 5000;
const CARD_EVERY = 6;

export const METRICS = [
  { key: 'visitors', label: 'Unique visitors', format: number },
  { key: 'visits', label: 'Total visits', format: number },
  { key: 'pageviews', label: 'Total pageviews', format: number },
  { key: 'views_per_visit', label: 'Views per visit', format: (v) => (v ?? '—').toString() },
  { key: 'bounce_rate', label: 'Bounce rate', format: percent, lowerIsBetter: true },
  { key: 'visit_duration', label: 'Visit duration', format: duration },
  { key: 'total_revenue', label: 'Revenue', format: (v) => money(v) },
];

function comparison(params) {
  const mode = params.get('cmp') || 'previous_period';
  return mode === 'off' ? undefined : { comparisons: { mode } };
}

function Change({ value, lowerIsBetter }) {
  if (value === null || value === undefined) return null;
  const good = lowerIsBetter ? value < 0 : value > 0;
  const sign = value > 0 ? '↑' : value < 0 ? '↓' : '';
  return (
    <span class={`change ${value === 0 ? '' : good ? 'good' : 'bad'}`}>
      {sign}
      {Math.abs(value)}%
    </span>
  );
}

// The figures come in two requests: the six core ones first (the first meaningful paint), revenue
// after, with the cards (at 10M events it costs seconds where the six cost ~0.1 s), and only when
// the project has a revenue goal (a goal with a currency); without one it shows "—".
const CORE = METRICS.filter((m) => m.key !== 'total_revenue').map((m) => m.key);
const LATE = ['total_revenue'];
const NO_REVENUE = { results: [{ metrics: [null] }], meta: { metric_warnings: { total_revenue: { warning: 'No revenue goal: add a goal with a currency under Goals' } } } };

/** The figures ``metrics`` (``wanted``: true; false answers NO_REVENUE; undefined waits). */
function useFigures(site, params, metrics, priority, tick, wanted) {
  const include = comparison(params) || { comparisons: { mode: 'previous_period' } };
  return useAsync(
    (signal) =>
      wanted === undefined
        ? new Promise(() => {})
        : wanted
          ? stats(site, { ...queryBase(params), metrics, include }, signal, { priority, fresh: tick > 0 })
          : Promise.resolve(NO_REVENUE),
    [site, params.toString(), tick, wanted],
  );
}

/** Has the project a revenue goal? undefined while the (cheap, registry-only) list loads. */
function useRevenueGoal(site) {
  const goals = useAsync((signal) => later('/api/v1/goals', { query: { site_id: site }, signal }), [site]);
  // a key that may not list goals: ask for revenue anyway; a server that failed to list them
  // (busy storage) is spared the heaviest figure
  if (goals.error) return goals.error.status === 401 || goals.error.status === 403;
  return goals.data ? goals.data.goals.some((g) => g.currency) : undefined;
}

/** ``{metric: {value, change, warning}}`` from the answers of ``useFigures``. */
function figuresOf(states, lists) {
  const out = {};
  states.forEach((state, n) => {
    const row = state.data?.results?.[0];
    if (!row) return;
    const warnings = state.data.meta?.metric_warnings || {};
    lists[n].forEach((key, i) => {
      out[key] = { value: row.metrics[i], change: row.comparison?.change?.[i], warning: warnings[key]?.warning };
    });
  });
  return out;
}

function Kpis({ site, params, metric, setMetric, tick, cardTick }) {
  const core = useFigures(site, params, CORE, FIRST, tick, true);
  const late = useFigures(site, params, LATE, LATER, cardTick, useRevenueGoal(site));
  const shown = figuresOf([core, late], [CORE, LATE]);
  const coreReady = Boolean(core.data?.results?.[0]);
  const allReady = coreReady && Boolean(late.data?.results?.[0] || late.error);
  useEffect(() => {
    if (coreReady) markOnce('trackhouse:top-stats');
    if (allReady) cardReady('kpis', CARDS);
  }, [coreReady, allReady]);
  if (core.error) return <p class="error" role="alert">{core.error.message}</p>;
  return (
    <div class="kpis" aria-busy={core.loading || late.loading ? 'true' : 'false'}>
      {METRICS.map((m) => {
        const figure = shown[m.key];
        const failed = !figure && m.key === 'total_revenue' && late.error;
        return (
          <button
            type="button"
            class={`kpi ${metric === m.key ? 'active' : ''}`}
            aria-pressed={metric === m.key}
            data-metric={m.key}
            onClick={() => setMetric(m.key)}
          >
            <span class="kpi-label">{m.label}</span>
            <span class="kpi-value" data-testid={`kpi-${m.key}`} title={failed ? late.error.message : figure?.warning}>
              {figure ? m.format(figure.value) : failed ? '—' : <span class="skeleton" aria-label="loading" />}
            </span>
            {figure && figure.change !== undefined && <Change value={figure.change} lowerIsBetter={m.lowerIsBetter} />}
          </button>
        );
      })}
    </div>
  );
}

const INTERVALS = ['hour', 'day', 'week', 'month'];

function defaultInterval(period) {
  return period === 'day' ? 'hour' : ['6mo', '12mo', 'year', 'all'].includes(period) ? 'month' : 'day';
}

function toSeconds(text) {
  return Date.parse(text.length <= 10 ? `${text}T00:00:00Z` : `${text.replace(' ', 'T')}Z`) / 1000;
}

function Series({ site, params, metric, tick }) {
  const interval = params.get('interval') || defaultInterval(params.get('period') || '30d');
  const info = METRICS.find((m) => m.key === metric) || METRICS[0];
  const include = comparison(params);
  const state = useAsync(
    (signal) =>
      stats(site, { ...queryBase(params), metrics: [info.key], dimensions: [`time:${interval}`], include }, signal, { priority: FIRST, fresh: tick > 0 }),
    [site, params.toString(), metric, tick],
  );
  useEffect(() => {
    if (state.data) cardReady('series', CARDS);
  }, [state.data]);
  const rows = state.data?.results || [];
  const xs = rows.map((r) => toSeconds(r.dimensions[0]));
  const current = rows.map((r) => r.metrics[0] ?? 0);
  const previous = include && rows.some((r) => r.comparison) ? rows.map((r) => r.comparison?.metrics?.[0] ?? null) : null;
  return (
    <section class="card wide" aria-labelledby="series-title">
      <header class="card-head">
        <h2 id="series-title">{info.label}</h2>
        <div class="segmented" role="group" aria-label="Interval">
          {INTERVALS.map((name) => (
            <button type="button" aria-pressed={name === interval} onClick={() => go('overview', withParams(params, { interval: name }))}>
              {name}
            </button>
          ))}
        </div>
      </header>
      {state.error ? (
        <p class="error" role="alert">{state.error.message}</p>
      ) : rows.length ? (
        <Chart xs={xs} current={current} previous={previous} label={info.label} format={info.format} hourly={interval === 'hour'} />
      ) : (
        state.loading ? <div class="chart-skeleton skeleton" aria-hidden="true" /> : <p class="empty">No data in this period</p>
      )}
    </section>
  );
}

function Realtime({ site }) {
  const [tick, setTick] = useState(0);
  useInterval(() => setTick((t) => t + 1), 30000);
  const state = useAsync((signal) => later('/api/v1/stats/realtime/visitors', { query: { site_id: site }, signal }), [site, tick]);
  return (
    <span class="realtime" title="Visitors with an event in the last 5 minutes">
      <span class="pulse" aria-hidden="true" />
      <span data-testid="realtime">{state.data ?? '…'}</span> current visitors
    </span>
  );
}

const PAGES = [
  // events with a page only: a backend event sent without one would show as "(not set)". Not
  // "named pageview": PostHog's are "$pageview", and a page view may carry a name of its own.
  // Visitors only, as Plausible's card: the stats API answers that from a projection (~0.2 s at
  // 10M events, where pageviews too must read the events: ~1.5 s)
  { label: 'Top pages', dim: 'event:page', metrics: ['visitors'], filters: [['is_not', 'event:page', ['']]] },
  { label: 'Entry pages', dim: 'visit:entry_page', metrics: ['visitors', 'visits'] },
  { label: 'Exit pages', dim: 'visit:exit_page', metrics: ['visitors', 'visits'] },
];
const SOURCES = [
  { label: 'Sources', dim: 'visit:source', metrics: ['visitors', 'visits'] },
  { label: 'Channels', dim: 'visit:channel', metrics: ['visitors', 'visits'] },
  { label: 'Referrers', dim: 'visit:referrer', metrics: ['visitors', 'visits'] },
  { label: 'UTM source', dim: 'visit:utm_source', metrics: ['visitors', 'visits'] },
  { label: 'UTM medium', dim: 'visit:utm_medium', metrics: ['visitors', 'visits'] },
  { label: 'UTM campaign', dim: 'visit:utm_campaign', metrics: ['visitors', 'visits'] },
];
const LOCATIONS = [
  { label: 'Map', dim: 'visit:country', metrics: ['visitors'], map: true },
  { label: 'Countries', dim: 'visit:country', metrics: ['visitors', 'visits'], name: country },
  { label: 'Regions', dim: 'visit:region_name', metrics: ['visitors', 'visits'] },
  { label: 'Cities', dim: 'visit:city_name', metrics: ['visitors', 'visits'] },
];
const DEVICES = [
  { label: 'Devices', dim: 'visit:device', metrics: ['visitors', 'visits'] },
  { label: 'Browsers', dim: 'visit:browser', metrics: ['visitors', 'visits'] },
  { label: 'Operating systems', dim: 'visit:os', metrics: ['visitors', 'visits'] },
];
const GOALS = [{ label: 'Goals', dim: 'event:goal', metrics: ['visitors', 'events', 'conversion_rate'] }];

/** A dimension's name in a filter ("Source is Google"), for every breakdown tab. */
export const LABELS = {
  ...Object.fromEntries([...PAGES, ...SOURCES, ...LOCATIONS.slice(1), ...DEVICES, ...GOALS].map((t) => [t.dim, t.label.replace(/s$/, '')])),
  'event:page': 'Page',
  'visit:country': 'Country',
  'visit:city_name': 'City',
};

/** Does the view's range reach today (so new events can change it)? */
function live(params) {
  if (params.get('period') !== 'custom') return true;
  return (params.get('to') || '') >= new Date().toISOString().slice(0, 10);
}

/** A refresh counter that advances every REFRESH_MS while the range is live. */
function useRefresh(params) {
  const [tick, setTick] = useState(0);
  const on = live(params);
  useInterval(() => !document.hidden && !busy() && setTick((t) => t + 1), on ? REFRESH_MS : 0);
  return tick;
}

export function Overview({ site, params }) {
  const metric = params.get('metric') || 'visitors';
  const tick = useRefresh(params);
  const cardTick = Math.floor(tick / CARD_EVERY);
  const pick = (dimension, value) => go('overview', addFilter(params, dimension, value));
  const panel = (title, tabs) => (
    <Breakdown
      title={title}
      tabs={tabs}
      site={site}
      params={params}
      tick={cardTick}
      cards={CARDS}
      onPick={pick}
      renderMap={(rows) => <WorldMap rows={rows} onPick={(c) => pick('visit:country', c)} />}
    />
  );
  return (
    <div class="overview">
      <div class="toolbar-line">
        <Realtime site={site} />
      </div>
      <Kpis site={site} params={params} tick={tick} cardTick={cardTick} metric={metric} setMetric={(m) => go('overview', withParams(params, { metric: m }))} />
      <Series site={site} params={params} tick={tick} metric={metric} />
      <div class="grid">
        {panel('Sources', SOURCES)}
        {panel('Pages', PAGES)}
        {panel('Locations', LOCATIONS)}
        {panel('Devices', DEVICES)}
        {panel('Goal conversions', GOALS)}
      </div>
    </div>
  );
}
