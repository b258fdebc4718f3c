import pg from 'pg';
import type { Logger } from '../core/index.ts';
import { dedicatedClientConfig } from '../store/index.ts';

/** Options for a loop that must run on one control-plane replica at a time. */
export interface SingletonLoopOptions {
  /** Names the lock; every replica running the same loop uses the same name. */
  readonly name: string;
  /** Time between two runs while leader. */
  readonly intervalMs: number;
  /** How often a follower tries to become leader. @default intervalMs */
  readonly retryMs?: number;
  /** One pass of the loop; the signal aborts when leadership is lost or the loop stops. */
  readonly run: (signal: AbortSignal) => Promise<void>;
  readonly logger?: Logger;
}

/** A running singleton loop. */
export interface SingletonLoop {
  /** Whether this replica holds the lock now. */
  isLeader(): boolean;
  /** Stops the loop, waits for the current pass, and releases the lock. */
  stop(): Promise<void>;
}

/**
 * Runs `run` every `intervalMs` on whichever replica holds a PostgreSQL session advisory lock named
 * after the loop. The lock lives on a dedicated connection of its own, outside `pool` (whose options
 * it copies): a held lock must never take a connection from the pool that requests need. If that
 * connection dies, PostgreSQL releases the lock and another replica takes over.
 */
export function startSingletonLoop(pool: pg.Pool, options: SingletonLoopOptions): SingletonLoop {
  let client: pg.Client | undefined;
  const connect = async (): Promise<pg.Client> => {
    const fresh = new pg.Client(dedicatedClientConfig(pool, `slipway-loop-${options.name}`));
    fresh.on('error', () => loseLeadership('lock connection failed'));
    await fresh.connect();
    return fresh;
  };
  const close = (c: pg.Client | undefined) => {
    void c?.end().catch(() => undefined);
  };
  let leader = false;
  let stopped = false;
  let passAbort: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();

  const loseLeadership = (reason: string) => {
    if (leader) options.logger?.warn({ loop: options.name, reason }, 'lost leadership');
    leader = false;
    passAbort?.abort();
    close(client);
    client = undefined;
  };

  const tick = async () => {
    if (stopped) return;
    try {
      if (!leader) {
        client ??= await connect();
        const { rows } = await client.query<{ locked: boolean }>(
          'SELECT pg_try_advisory_lock(hashtext($1)) AS locked',
          [`slipway.loop.${options.name}`],
        );
        leader = rows[0]?.locked === true;
        if (!leader) {
          close(client);
          client = undefined;
        } else {
          options.logger?.info({ loop: options.name }, 'became leader');
        }
      } else {
        // Prove the lock connection is still alive before trusting the lock.
        await client!.query('SELECT 1');
      }
      if (leader && !stopped) {
        passAbort = new AbortController();
        await options.run(passAbort.signal);
      }
    } catch (error) {
      options.logger?.warn({ err: error, loop: options.name }, 'singleton loop pass failed');
      if (client && !leader) {
        close(client);
        client = undefined;
      }
    }
    if (!stopped)
      timer = setTimeout(schedule, leader ? options.intervalMs : (options.retryMs ?? options.intervalMs));
  };
  const schedule = () => {
    current = tick();
  };
  schedule();

  return {
    isLeader: () => leader,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      passAbort?.abort();
      await current;
      if (client) {
        if (leader)
          await client
            .query('SELECT pg_advisory_unlock(hashtext($1))', [`slipway.loop.${options.name}`])
            .catch(() => undefined);
        await client.end().catch(() => undefined);
        client = undefined;
      }
      leader = false;
    },
  };
}
