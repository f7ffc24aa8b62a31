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

/** Filters in the URL are ``f=<dimension>|<value>`` ("is") or ``f=<dimension>~<operator>|<value>``
 * (is_not, contains, contains_not, matches, matches_not: the stats API's operators). */
export function filtersOf(params) {
  return params.getAll('f').map((text) => {
    const cut = text.indexOf('|');
    const [dimension, op = 'is'] = text.slice(0, cut).split('~');
    return [dimension, text.slice(cut + 1), op];
  });
}

const filterText = (dimension, value, op = 'is') => `${dimension}${op === 'is' ? '' : `~${op}`}|${value}`;

function replaceFilters(params, keep) {
  const next = new URLSearchParams(params);
  next.delete('f');
  for (const [dimension, value, op] of keep) next.append('f', filterText(dimension, value, op));
  return next;
}

/** A filter added; one on the same dimension with the same operator is replaced. */
export function addFilter(params, dimension, value, op = 'is') {
  const keep = filtersOf(params).filter(([d, , o]) => !(d === dimension && o === op));
  return replaceFilters(params, [...keep, [dimension, value, op]]);
}

export function removeFilter(params, dimension, op = 'is') {
  return replaceFilters(params, filtersOf(params).filter(([d, , o]) => !(d === dimension && o === op)));
}

/** The date range and filters every stats query of the view shares. */
export function queryBase(params) {
  const filters = filtersOf(params).map(([dimension, value, op]) => [op, dimension, [value]]);
  const period = params.get('period') || '30d';
  const range = period === 'custom' ? [params.get('from'), params.get('to')] : period;
  return { date_range: range, filters };
}

