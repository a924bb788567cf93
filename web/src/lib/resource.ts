/**
 * `useResource`: load something from the API for a view, keep the last answer on screen while
 * reloading (so refreshes never make the page jump), and expose the error for an `ErrorState`.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api/client';

export interface Resource<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
  /** Replace the data in place (after a write answered the new version). */
  setData: (data: T) => void;
}

export function useResource<T>(load: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[]): Resource<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const depsKey = JSON.stringify(deps);
  const previousDepsKey = useRef(depsKey);

  useEffect(() => {
    const controller = new AbortController();
    if (previousDepsKey.current !== depsKey) {
      // Another thing is shown now: drop the old data rather than show it under the new URL.
      previousDepsKey.current = depsKey;
      setData(undefined);
    }
    setLoading(true);
    loadRef
      .current(controller.signal)
      .then((result) => {
        if (controller.signal.aborted) return;
        setData(result);
        setError(undefined);
        setLoading(false);
      })
      .catch((caught: unknown) => {
        if (controller.signal.aborted) return;
        setError(toApiError(caught));
        setLoading(false);
      });
    return () => controller.abort();
  }, [depsKey, generation]);

  const reload = useCallback(() => setGeneration((value) => value + 1), []);
  return { data, error, loading, reload, setData };
}

export function toApiError(caught: unknown): ApiError {
  if (caught instanceof ApiError) return caught;
  const message = caught instanceof Error ? caught.message : String(caught);
  return new ApiError({ status: 0, code: 'client', detail: message });
}
