// Numbers, durations and names as the dashboard shows them.
const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });
const whole = new Intl.NumberFormat('en');
let regions;

export function number(value) {
  if (value === null || value === undefined) return '—';
  return Math.abs(value) >= 10000 ? compact.format(value) : whole.format(value);
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export const percent = (value) => (value === null || value === undefined ? '—' : `${value}%`);

export function money(value, currency) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'object') {
    currency = value.currency;
    value = value.value;
  }
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency: currency || 'USD' }).format(
      value,
    );
  } catch {
    return `${value} ${currency || ''}`;
  }
}

export function country(code) {
  if (!code || code.length !== 2) return code || '(unknown)';
  regions = regions || new Intl.DisplayNames(['en'], { type: 'region' });
  try {
    return regions.of(code.toUpperCase());
  } catch {
    return code;
  }
}

export function time(iso) {
  if (!iso) return '';
  const moment = new Date(iso);
  return moment.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}

/** "Dec 5, 14:03:07" (the year left out): the feed's column. */
export function shortTime(iso) {
  if (!iso) return '';
  return new Date(iso).toLocaleString('en-US', {
    month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
  });
}
