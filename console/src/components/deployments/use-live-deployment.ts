import { useEffect, useState } from 'react';
import type { ApiClient } from '../../api/api-client.ts';
import { type ApiError, toApiError } from '../../api/api-error.ts';
import { type Deployment, type DeploymentEvent, isFinished } from './types.ts';

/** How often a running deployment is read again. */
export const POLL_MS = 1000;

/** What the live view of a deployment knows. */
export interface LiveDeployment {
  readonly deployment: Deployment | undefined;
  /** Every event read so far, oldest first. */
  readonly events: readonly DeploymentEvent[];
  /** Whether it is still being followed (false once the deployment ended). */
  readonly live: boolean;
  /** The last failed read; the next poll tries again. */
  readonly error: ApiError | undefined;
}

/**
 * Follows a deployment: its state and progress, and its log from the last event seen (the events
 * route's `after` cursor), every second until it ends. Once it has ended, one more read collects the
 * lines the runner writes after the final state.
 */
export function useLiveDeployment(client: ApiClient, number: number): LiveDeployment {
  const [state, setState] = useState<LiveDeployment>({
    deployment: undefined,
    events: [],
    live: true,
    error: undefined,
  });
  useEffect(() => {
    setState({ deployment: undefined, events: [], live: true, error: undefined });
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let cursor = 0;
    let roundsSinceEnd = 0;
    const poll = async () => {
      try {
        const deployment = await client.get<Deployment>(`/api/deployments/${number}`);
        const events = await client.get<DeploymentEvent[]>(`/api/deployments/${number}/events`, {
          after: String(cursor),
        });
        if (stopped) return;
        cursor = events.at(-1)?.id ?? cursor;
        if (isFinished(deployment)) roundsSinceEnd++;
        const live = roundsSinceEnd < 2;
        setState((current) => ({
          deployment,
          events: events.length > 0 ? [...current.events, ...events] : current.events,
          live,
          error: undefined,
        }));
        if (live) timer = setTimeout(poll, POLL_MS);
      } catch (failure) {
        if (stopped) return;
        const error = toApiError(failure);
        // A deployment that does not exist or may not be seen will not appear by asking again.
        const retry = error.status !== 404 && error.status !== 403 && error.status !== 401;
        setState((current) => ({ ...current, error, live: retry }));
        if (retry) timer = setTimeout(poll, POLL_MS);
      }
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [client, number]);
  return state;
}
