import { useCallback, useState } from 'react';
import { type ApiError, toApiError } from '../api/api-error.ts';

/** How a run of an action ended. */
export type ActionResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false };

/** A write the user starts (a form submit, a button), with its pending flag and last error. */
export interface Action<A extends unknown[], T> {
  /** Runs the action; a failure is kept in `error` rather than thrown. */
  run(...args: A): Promise<ActionResult<T>>;
  readonly pending: boolean;
  readonly error: ApiError | undefined;
  /** Forgets the last error. */
  reset(): void;
}

/** Wraps an API write so a page can show that it runs and why it failed. */
export function useAction<A extends unknown[], T>(action: (...args: A) => Promise<T>): Action<A, T> {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<ApiError>();

  const run = useCallback(
    async (...args: A): Promise<ActionResult<T>> => {
      setPending(true);
      setError(undefined);
      try {
        return { ok: true, value: await action(...args) };
      } catch (failure) {
        setError(toApiError(failure));
        return { ok: false };
      } finally {
        setPending(false);
      }
    },
    [action],
  );
  const reset = useCallback(() => setError(undefined), []);
  return { run, pending, error, reset };
}
