// Data hooks: a request that re-runs when its inputs change and ignores stale answers.
import { useEffect, useState } from 'preact/hooks';

/** ``load(signal)`` whenever ``deps`` change; the previous request is aborted. While a new
 * answer loads the old one stays on screen, and an answer equal to the shown one keeps it (no
 * re-render of the rows on a refresh that found nothing new). */
export function useAsync(load, deps) {
  const [state, setState] = useState({ loading: true });
  useEffect(() => {
    const controller = new AbortController();
    setState((old) => ({ ...old, loading: true, error: null }));
    load(controller.signal).then(
      (data) =>
        !controller.signal.aborted &&
        setState((old) => ({ data: old.data !== undefined && JSON.stringify(old.data) === JSON.stringify(data) ? old.data : data, loading: false })),
      (error) => !controller.signal.aborted && setState({ error, loading: false }),
    );
    return () => controller.abort();
  }, deps);
  return state;
}

export function useInterval(callback, ms) {
  useEffect(() => {
    if (!ms) return undefined;
    const timer = setInterval(callback, ms);
    return () => clearInterval(timer);
  }, [ms]);
}
