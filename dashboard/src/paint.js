// Paint marks (User Timing) that bench/bench_dashboard_paint.py reads: "trackhouse:top-stats"
// when the figures first show real numbers, "trackhouse:cards" when every card of the overview
// has its data (and "trackhouse:card:<name>" for each). Each is set once per page load.
const done = new Set();
const ready = new Set();

export function markOnce(name) {
  if (done.has(name)) return;
  done.add(name);
  performance.mark(name);
}

/** A card of the overview has its data; the last of ``total`` sets "trackhouse:cards". */
export function cardReady(card, total) {
  markOnce(`trackhouse:card:${card}`);
  ready.add(card);
  if (ready.size >= total) markOnce('trackhouse:cards');
}
