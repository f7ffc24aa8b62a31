// Data hooks: a request that re-runs when its inputs change and ignores stale answers.
import { useEffect, useState } from 'preact/hooks';

export function useAsync(load, deps) {
  const [state, setState] = useState({ loading: true });
  useEffect(() => {
    const controller = new AbortController();
    setState((old) => ({ ...old, loading: true, error: null }));
    load(controller.signal).then(
      (data) => !controller.signal.aborted && setState({ data, loading: false }),
      (error) => !controller.signal.aborted && setState({ error, loading: false }),
    );
    return () => controller.abort();
  }, deps);
  return state;
}

export function useInterval(callback, ms) {
  useEffect(() => {
    const timer = setInterval(callback, ms);
    return () => clearInterval(timer);
  }, [ms]);
}
