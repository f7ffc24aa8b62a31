// Goals (GET/POST/DELETE /api/v1/goals): the project's conversion goals, an event name or a page
// path pattern (``*``, ``**``), a custom event with a currency being a revenue goal. A read-only
// share link lists them only.
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { useAsync } from './hooks.js';

function GoalForm({ site, added }) {
  const [kind, setKind] = useState('event');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function submit(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const fields = new FormData(form);
    const body = { site_id: site, [kind === 'event' ? 'event_name' : 'page_path']: String(fields.get('match')).trim() };
    const name = String(fields.get('display_name') || '').trim();
    const currency = String(fields.get('currency') || '').trim().toUpperCase();
    if (name) body.display_name = name;
    if (kind === 'event' && currency) body.currency = currency;
    setBusy(true);
    setError(null);
    try {
      await api('/api/v1/goals', { method: 'POST', body });
      form.reset();
      added();
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form class="card goal-form" onSubmit={submit} aria-labelledby="goal-form-title">
      <h2 id="goal-form-title">Add a goal</h2>
      <div class="row">
        <label>
          Goal type{' '}
          <select name="kind" value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            <option value="event">Custom event</option>
            <option value="page">Page visit</option>
          </select>
        </label>
        <label class="grow">
          {kind === 'event' ? 'Event name' : 'Page path'}{' '}
          <input name="match" required placeholder={kind === 'event' ? 'Signup' : '/pricing*'} />
        </label>
        <label class="grow">
          Display name <input name="display_name" placeholder="optional" />
        </label>
        {kind === 'event' && (
          <label>
            Currency <input name="currency" class="short" maxLength={3} placeholder="EUR" title="A revenue goal: its events carry revenue in this currency" />
          </label>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Adding…' : 'Add goal'}
        </button>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

export function Goals({ site, who }) {
  const [tick, setTick] = useState(0);
  const [error, setError] = useState(null);
  const goals = useAsync((signal) => api('/api/v1/goals', { query: { site_id: site }, signal }), [site, tick]);
  const editable = who.role !== 'share';
  async function remove(goal) {
    setError(null);
    try {
      await api(`/api/v1/goals/${encodeURIComponent(goal.id)}`, { method: 'DELETE', query: { site_id: site } });
      setTick(tick + 1);
    } catch (err) {
      setError(err.message);
    }
  }
  const rows = goals.data?.goals || [];
  return (
    <div class="goals">
      {editable && <GoalForm site={site} added={() => setTick(tick + 1)} />}
      <section class="card" aria-labelledby="goals-title">
        <h2 id="goals-title">Goals</h2>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {goals.error ? (
          <p class="error" role="alert">{goals.error.message}</p>
        ) : !rows.length ? (
          <p class="empty">{goals.loading ? 'Loading…' : 'No goal yet: conversions show on the overview once you add one.'}</p>
        ) : (
          <table class="goal-list">
            <thead>
              <tr>
                <th scope="col">Goal</th>
                <th scope="col">Matches</th>
                {editable && (
                  <th scope="col">
                    <span class="sr-only">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {rows.map((goal) => (
                <tr data-goal={goal.display_name}>
                  <td>
                    {goal.display_name}
                    {goal.currency && <span class="badge">{goal.currency}</span>}
                  </td>
                  <td>
                    {goal.event_name ? 'event ' : 'page '}
                    <code>{goal.event_name || goal.page_path}</code>
                  </td>
                  {editable && (
                    <td class="num">
                      <button type="button" class="ghost" aria-label={`Delete goal ${goal.display_name}`} onClick={() => remove(goal)}>
                        Delete
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
