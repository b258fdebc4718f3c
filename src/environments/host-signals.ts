/**
 * Wakes agents' long polls when their host's document changes. In-process only: a poll answered by
 * another replica of the control plane finds the change on its next database check (every second).
 */
type Waiter = () => void;

const WAITERS = new Map<string, Set<Waiter>>();

/** Waits until `hostId` is signalled, `ms` pass, or `signal` aborts. */
export function waitForHostChange(hostId: string, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const set = WAITERS.get(hostId) ?? new Set<Waiter>();
    WAITERS.set(hostId, set);
    const done = () => {
      clearTimeout(timer);
      set.delete(done);
      if (set.size === 0) WAITERS.delete(hostId);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    set.add(done);
  });
}

/** Wakes the polls waiting on `hostId`. */
export function signalHostChange(hostId: string): void {
  for (const waiter of [...(WAITERS.get(hostId) ?? [])]) waiter();
}

/** Wakes every poll (the server is stopping). */
export function wakeAllHostWaiters(): void {
  for (const set of [...WAITERS.values()]) for (const waiter of [...set]) waiter();
}
