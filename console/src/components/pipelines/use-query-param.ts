import { useSyncExternalStore } from 'react';
import { navigate } from '../../router.tsx';

const NAVIGATED = 'slipway:navigated';

function subscribe(onChange: () => void): () => void {
  window.addEventListener('popstate', onChange);
  window.addEventListener(NAVIGATED, onChange);
  return () => {
    window.removeEventListener('popstate', onChange);
    window.removeEventListener(NAVIGATED, onChange);
  };
}

/**
 * A query parameter of the current page ("?run=laravel-app/3"), and a way to change it with a
 * history entry; the component renders again when it changes (back and forward included).
 */
export function useQueryParam(name: string): [string | undefined, (value: string | undefined) => void] {
  const value = useSyncExternalStore(
    subscribe,
    () => new URLSearchParams(window.location.search).get(name) ?? undefined,
  );
  const set = (next: string | undefined) => {
    const params = new URLSearchParams(window.location.search);
    if (next === undefined || next === '') params.delete(name);
    else params.set(name, next);
    const search = params.toString();
    navigate(`${window.location.pathname}${search ? `?${search}` : ''}`);
  };
  return [value, set];
}

/** A link target on a page with a query: "/runs?run=laravel-app%2F3". */
export function withQuery(path: string, query: Readonly<Record<string, string>>): string {
  const search = new URLSearchParams(query).toString();
  return search ? `${path}?${search}` : path;
}
