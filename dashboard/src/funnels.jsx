// Funnels: ordered steps (an event name or a page pattern) -> POST /v1/funnels, optionally
// broken down by a dimension (each value's own funnel, a person counted under the value of
// their first step-1 event).
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { country, number } from './format.js';

export const BREAKDOWNS = [
  ['', 'No breakdown'],
  ['source', 'Source'],
  ['channel', 'Channel'],
  ['utm_source', 'UTM source'],
  ['utm_campaign', 'UTM campaign'],
  ['country', 'Country'],
  ['device', 'Device'],
  ['browser', 'Browser'],
  ['os', 'Operating system'],
];

/** One row per value: each step's count, and the whole funnel's conversion. */
function BreakdownTable({ data }) {
  const names = data.results[0]?.steps.map((s) => s.name) || [];
  const label = BREAKDOWNS.find(([key]) => key === data.breakdown)?.[1] || data.breakdown;
  if (!data.results.length) return <p class="empty">Nobody did step 1 in this period</p>;
  return (
    <div class="table-scroll">
      <table class="breakdown funnel-breakdown">
        <thead>
          <tr>
            <th scope="col">{label}</th>
            {names.map((name, i) => (
              <th scope="col" class="num" title={name}>
                {i + 1}. {name}
              </th>
            ))}
            <th scope="col" class="num">Conversion</th>
          </tr>
        </thead>
        <tbody>
          {data.results.map((row) => (
            <tr data-value={row.value}>
              <th scope="row">{row.value === '' || row.value === null ? '(none)' : data.breakdown === 'country' ? country(row.value) : row.value}</th>
              {row.steps.map((s) => (
                <td class="num">{number(s.count)}</td>
              ))}
              <td class="num">{row.steps[row.steps.length - 1].conversion_rate}%</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const BLANK = [
  { kind: 'page', value: '/' },
  { kind: 'event', value: '' },
];

export function Funnels({ params }) {
  const [steps, setSteps] = useState(BLANK);
  const [window, setWindow] = useState('1d');
  const [breakdown, setBreakdown] = useState('');
  const [state, setState] = useState({});
  const period = params.get('period') || '30d';
  const range = period === 'custom' ? [params.get('from'), params.get('to')] : period === 'all' ? '12mo' : period;
  const change = (i, field, value) => setSteps(steps.map((s, j) => (j === i ? { ...s, [field]: value } : s)));
  async function run(event) {
    event.preventDefault();
    setState({ loading: true });
    try {
      const body = { steps: steps.map((s) => ({ [s.kind]: s.value.trim() })), window, date_range: range };
      if (breakdown) body.breakdown = breakdown;
      setState({ data: await api('/v1/funnels', { method: 'POST', body }) });
    } catch (error) {
      setState({ error });
    }
  }
  const result = state.data?.steps || [];
  const top = Math.max(1, ...result.map((s) => s.count));
  return (
    <div class="funnels">
      <form class="card" onSubmit={run} aria-labelledby="funnel-title">
        <h2 id="funnel-title">Funnel</h2>
        <ol class="steps">
          {steps.map((s, i) => (
            <li>
              <label>
                <span class="sr-only">Step {i + 1} kind</span>
                <select value={s.kind} onChange={(e) => change(i, 'kind', e.currentTarget.value)}>
                  <option value="page">Page</option>
                  <option value="event">Event</option>
                </select>
              </label>
              <label class="grow">
                <span class="sr-only">Step {i + 1} {s.kind === 'page' ? 'page pattern' : 'event name'}</span>
                <input required value={s.value} placeholder={s.kind === 'page' ? '/pricing*' : 'signup'} onInput={(e) => change(i, 'value', e.currentTarget.value)} />
              </label>
              {steps.length > 2 && (
                <button type="button" class="ghost" aria-label={`Remove step ${i + 1}`} onClick={() => setSteps(steps.filter((_, j) => j !== i))}>
                  ×
                </button>
              )}
            </li>
          ))}
        </ol>
        <div class="row">
          <button type="button" disabled={steps.length >= 10} onClick={() => setSteps([...steps, { kind: 'event', value: '' }])}>
            Add step
          </button>
          <label>
            Window{' '}
            <select value={window} onChange={(e) => setWindow(e.currentTarget.value)}>
              {['30m', '1h', '1d', '7d', '30d'].map((w) => (
                <option value={w}>{w}</option>
              ))}
            </select>
          </label>
          <label>
            Breakdown{' '}
            <select value={breakdown} onChange={(e) => setBreakdown(e.currentTarget.value)}>
              {BREAKDOWNS.map(([value, label]) => (
                <option value={value}>{label}</option>
              ))}
            </select>
          </label>
          <button type="submit" class="primary" disabled={state.loading}>
            {state.loading ? 'Running…' : 'Run funnel'}
          </button>
        </div>
      </form>
      {state.error && <p class="error" role="alert">{state.error.message}</p>}
      {state.data?.results && (
        <section class="card" aria-labelledby="funnel-result">
          <h2 id="funnel-result">
            {state.data.date_range.join(' – ')} · {state.data.counting} · by {BREAKDOWNS.find(([key]) => key === state.data.breakdown)?.[1].toLowerCase()}
          </h2>
          <BreakdownTable data={state.data} />
        </section>
      )}
      {result.length > 0 && (
        <section class="card" aria-labelledby="funnel-result">
          <h2 id="funnel-result">
            {state.data.date_range.join(' – ')} · {state.data.counting}
          </h2>
          <ol class="funnel-bars">
            {result.map((s) => (
              <li data-step={s.step}>
                <div class="funnel-label">
                  <strong>{s.step}. {s.name}</strong>
                  <span>
                    <span data-testid={`funnel-count-${s.step}`}>{number(s.count)}</span> · {s.conversion_rate}%
                    {s.step > 1 && <span class="muted"> · −{number(s.dropoff)} ({s.dropoff_rate}%)</span>}
                  </span>
                </div>
                <div class="funnel-track">
                  <div class="funnel-fill" style={`width:${(100 * s.count) / top}%`} />
                </div>
              </li>
            ))}
          </ol>
        </section>
      )}
    </div>
  );
}
