// The view, its site, date range and filters live in the URL's hash: a link reproduces the view.
import { useEffect, useState } from 'preact/hooks';

export function readRoute() {
  const [path, query = ''] = (location.hash.slice(1) || '/overview').split('?');
  return { view: path.replace(/^\//, '') || 'overview', params: new URLSearchParams(query) };
}

export function href(view, params) {
  const query = params ? params.toString() : '';
  return `#/${view}${query ? `?${query}` : ''}`;
}

export function go(view, params) {
  location.hash = href(view, params).slice(1);
}

/** Params with ``changes`` applied (null removes a name). */
export function withParams(params, changes) {
  const next = new URLSearchParams(params);
  for (const [name, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === '') next.delete(name);
    else next.set(name, value);
  }
  return next;
}

export function useRoute() {
  const [route, setRoute] = useState(readRoute);
  useEffect(() => {
    const update = () => setRoute(readRoute());
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}

/** Filters in the URL are ``f=<dimension>|<value>``; as the stats API's filters. */
export function filtersOf(params) {
  return params.getAll('f').map((text) => {
    const cut = text.indexOf('|');
    return [text.slice(0, cut), text.slice(cut + 1)];
  });
}

export function addFilter(params, dimension, value) {
  const next = new URLSearchParams(params);
  const entries = next.getAll('f').filter((f) => !f.startsWith(`${dimension}|`));
  next.delete('f');
  for (const f of [...entries, `${dimension}|${value}`]) next.append('f', f);
  return next;
}

export function removeFilter(params, dimension) {
  const next = new URLSearchParams(params);
  const keep = next.getAll('f').filter((f) => !f.startsWith(`${dimension}|`));
  next.delete('f');
  for (const f of keep) next.append('f', f);
  return next;
}

/** The date range and filters every stats query of the view shares. */
export function queryBase(params) {
  const filters = filtersOf(params).map(([dimension, value]) => ['is', dimension, [value]]);
  const period = params.get('period') || '30d';
  const range = period === 'custom' ? [params.get('from'), params.get('to')] : period;
  return { date_range: range, filters };
}

