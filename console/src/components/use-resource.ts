import { useCallback, useEffect, useState } from 'react';
import { type ApiError, toApiError } from '../api/api-error.ts';

/** Data a page reads from the API, with its loading and error state. */
export interface Resource<T> {
  /** The last data read; kept while a reload runs so the page does not flicker. */
  readonly data: T | undefined;
  readonly error: ApiError | undefined;
  readonly loading: boolean;
  /** Reads the data again. */
  reload(): void;
}

/**
 * Reads data with `load` when the component mounts and whenever `load` changes (wrap it in
 * `useCallback` with its inputs as dependencies). Answers to superseded reads are dropped.
 */
export function useResource<T>(load: () => Promise<T>): Resource<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError>();
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `generation` is the reload trigger.
  useEffect(() => {
    let current = true;
    setLoading(true);
    load().then(
      (value) => {
        if (!current) return;
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (failure: unknown) => {
        if (!current) return;
        setError(toApiError(failure));
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [load, generation]);

  const reload = useCallback(() => setGeneration((n) => n + 1), []);
  return { data, error, loading, reload };
}
