// The active filters as chips, and (on the overview) a form to add one with any of the stats
// API's operators: is, is not, contains, does not contain, matches, does not match (RE2).
import { useState } from 'preact/hooks';
import { country } from './format.js';
import { LABELS } from './overview.jsx';
import { addFilter, filtersOf, go, removeFilter } from './route.js';

export const OPERATORS = [
  ['is', 'is'],
  ['is_not', 'is not'],
  ['contains', 'contains'],
  ['contains_not', 'does not contain'],
  ['matches', 'matches'],
  ['matches_not', 'does not match'],
];
const WORDS = Object.fromEntries(OPERATORS);
// event:goal takes only these (the stats API's rule)
const GOAL_OPERATORS = ['is', 'contains'];

function FilterForm({ view, params, close }) {
  const dimensions = Object.entries(LABELS);
  const [dimension, setDimension] = useState(dimensions[0][0]);
  const operators = OPERATORS.filter(([op]) => dimension !== 'event:goal' || GOAL_OPERATORS.includes(op));
  function submit(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const value = String(form.get('value')).trim();
    if (!value) return;
    go(view, addFilter(params, dimension, value, String(form.get('op'))));
    close();
  }
  return (
    <form class="filter-add card" onSubmit={submit} aria-label="Add a filter">
      <label>
        <span class="sr-only">Filter dimension</span>
        <select name="dimension" value={dimension} onChange={(e) => setDimension(e.currentTarget.value)}>
          {dimensions.map(([value, label]) => (
            <option value={value}>{label}</option>
          ))}
        </select>
      </label>
      <label>
        <span class="sr-only">Filter operator</span>
        <select name="op">
          {operators.map(([value, label]) => (
            <option value={value}>{label}</option>
          ))}
        </select>
      </label>
      <label class="grow">
        <span class="sr-only">Filter value</span>
        <input name="value" required placeholder={dimension === 'visit:country' ? 'GB' : 'value'} />
      </label>
      <button type="submit" class="primary">
        Apply
      </button>
      <button type="button" class="ghost" onClick={close}>
        Cancel
      </button>
    </form>
  );
}

export function Filters({ view, params, editable }) {
  const [open, setOpen] = useState(false);
  const filters = filtersOf(params);
  if (!filters.length && !editable) return null;
  return (
    <div class="filter-bar">
      {filters.length > 0 && (
        <ul class="filters" aria-label="Active filters">
          {filters.map(([dimension, value, op]) => (
            <li class="chip">
              <span>
                {LABELS[dimension] || dimension} {WORDS[op] || op} <strong>{dimension === 'visit:country' ? country(value) : value}</strong>
              </span>
              <button type="button" aria-label={`Remove filter ${dimension} ${WORDS[op] || op}`} onClick={() => go(view, removeFilter(params, dimension, op))}>
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      {editable && !open && (
        <button type="button" class="add-filter" aria-expanded="false" onClick={() => setOpen(true)}>
          + Filter
        </button>
      )}
      {open && <FilterForm view={view} params={params} close={() => setOpen(false)} />}
    </div>
  );
}
