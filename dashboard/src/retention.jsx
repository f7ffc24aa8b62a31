// Retention: cohorts by first-seen week or day, and the share of each that came back.
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { number } from './format.js';
import { useAsync } from './hooks.js';

export function Retention() {
  const [period, setPeriod] = useState('week');
  const cohorts = period === 'week' ? 8 : 14;
  const state = useAsync((signal) => api('/v1/retention', { query: { period, cohorts }, signal }), [period]);
  const rows = state.data?.cohorts || [];
  const width = Math.max(0, ...rows.map((c) => c.returning.length));
  return (
    <section class="card wide" aria-labelledby="retention-title">
      <header class="card-head">
        <h2 id="retention-title">Retention by first {period}</h2>
        <div class="segmented" role="group" aria-label="Cohort period">
          {['week', 'day'].map((p) => (
            <button type="button" aria-pressed={p === period} onClick={() => setPeriod(p)}>
              {p}
            </button>
          ))}
        </div>
      </header>
      {state.error && <p class="error" role="alert">{state.error.message}</p>}
      {!state.error && !rows.length && <p class="empty">{state.loading ? 'Loading…' : 'No cohorts yet'}</p>}
      {rows.length > 0 && (
        <div class="scroll">
          <table class="cohorts">
            <thead>
              <tr>
                <th scope="col">Cohort</th>
                <th scope="col" class="num">People</th>
                {Array.from({ length: width }, (_, i) => (
                  <th scope="col" class="num">
                    {period[0].toUpperCase()}
                    {i}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((c) => (
                <tr>
                  <th scope="row">{c.cohort}</th>
                  <td class="num">{c.size ? number(c.size) : '—'}</td>
                  {Array.from({ length: width }, (_, i) => {
                    const cell = c.returning[i];
                    return cell && c.size ? (
                      <td class="num heat" style={`--heat:${cell.percentage / 100}`} title={`${cell.count} people`}>
                        {cell.percentage}%
                      </td>
                    ) : (
                      <td />
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
