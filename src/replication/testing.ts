/**
 * Fixtures for replication tests: two real PostgreSQL 15 clusters (source and target) on 127.0.0.1,
 * a SaaS-shaped schema on both, an in-process applier, a TCP proxy that can cut the network, and
 * helpers to wait for catch-up and compare the sides.
 */
import { createServer, type Server, Socket } from 'node:net';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../store/testing.ts';
import { Applier, type ApplierEvent, type ApplierOptions } from './applier.ts';
import { isCoveredBy, parseSnapshot } from './internal/snapshot.ts';
import { readReplicaState } from './replica.ts';

/** A source and a target cluster. */
export interface ReplicationPair {
  readonly source: TestPostgres;
  readonly target: TestPostgres;
  /** Stops both clusters and removes their files. */
  stop(): Promise<void>;
}

/** Starts two throwaway clusters side by side. */
export async function startReplicationPair(
  options: { settings?: Readonly<Record<string, string | number>> } = {},
): Promise<ReplicationPair> {
  const [source, target] = await Promise.all([
    startPostgres(options.settings ? { settings: options.settings } : {}),
    startPostgres(options.settings ? { settings: options.settings } : {}),
  ]);
  return {
    source,
    target,
    async stop() {
      await Promise.all([source.stop(), target.stop()]);
    },
  };
}

/** Runs SQL on a database through a short-lived connection and returns the last result's rows. */
export async function runSql<T = Record<string, unknown>>(
  url: string,
  text: string,
  values?: unknown[],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = (await client.query(text, values)) as unknown as pg.QueryResult | pg.QueryResult[];
    const last = Array.isArray(result) ? result.at(-1)! : result;
    return last.rows as T[];
  } finally {
    await client.end();
  }
}

/** A SaaS-shaped schema: organisations, users and events with jsonb, every common type, sequences. */
export const SAAS_SCHEMA = `
CREATE TABLE organisations (
  id bigserial PRIMARY KEY,
  name text NOT NULL UNIQUE,
  plan text NOT NULL DEFAULT 'free',
  balance numeric(14, 4) NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE users (
  id bigserial PRIMARY KEY,
  organisation_id bigint NOT NULL REFERENCES organisations (id) ON DELETE CASCADE ON UPDATE CASCADE,
  email text NOT NULL UNIQUE,
  display_name text,
  tags text[],
  avatar bytea,
  score double precision,
  last_seen timestamptz,
  born date
);
CREATE TABLE events (
  id bigserial PRIMARY KEY,
  user_id bigint REFERENCES users (id) ON DELETE SET NULL,
  kind text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}',
  amounts numeric[],
  happened_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE settings (
  organisation_id bigint NOT NULL,
  key text NOT NULL,
  value jsonb,
  PRIMARY KEY (organisation_id, key)
);
`;

/** Creates the SaaS schema on both sides of a pair. */
export async function createSaasSchema(pair: ReplicationPair): Promise<void> {
  await Promise.all([runSql(pair.source.url, SAAS_SCHEMA), runSql(pair.target.url, SAAS_SCHEMA)]);
}

/** The SaaS tables, parents first. */
export const SAAS_TABLES = ['public.organisations', 'public.users', 'public.events', 'public.settings'];

/** Starts an applier in this process; stop it with `stop()`. */
export function startApplier(
  link: string,
  pair: { source: { url: string }; target: { url: string } },
  options: Partial<ApplierOptions> & { events?: ApplierEvent[] } = {},
): Applier {
  const events = options.events;
  return new Applier({
    link,
    sourceDsn: pair.source.url,
    targetDsn: pair.target.url,
    pollMs: 10,
    heartbeatMs: 100,
    controlMs: 100,
    maintenanceMs: 300,
    rotateAfterMs: 1_000,
    backoffMs: 100,
    maxBackoffMs: 1_000,
    ...options,
    onEvent: (event) => {
      events?.push(event);
      options.onEvent?.(event);
    },
  }).start();
}

/**
 * Waits until the target has applied every transaction the source had committed when called, and
 * every table replicates.
 * @throws when that does not happen within `timeoutMs`
 */
export async function waitForCatchUp(
  link: string,
  pair: { source: { url: string }; target: { url: string } },
  options: { timeoutMs?: number } = {},
): Promise<void> {
  const rows = await runSql<{ s: string }>(pair.source.url, 'SELECT pg_current_snapshot()::text AS s');
  const wanted = parseSnapshot(rows[0]!.s);
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const client = new pg.Client({ connectionString: pair.target.url });
  await client.connect();
  try {
    let last = '';
    while (Date.now() < deadline) {
      const state = await readReplicaState(client, link);
      last = `position ${state.position.xmin}:${state.position.xmax}, tables ${state.tables.map((t) => t.state).join(',')}, last error ${state.lastError ?? 'none'}`;
      if (
        isCoveredBy(wanted, state.position) &&
        state.tables.every((t) => t.state === 'replicating' && !t.position)
      ) {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(
      `The target of link "${link}" did not catch up within ${options.timeoutMs ?? 60_000} ms (${last})`,
    );
  } finally {
    await client.end();
  }
}

/** A TCP proxy between the applier and a database, whose network can be cut and restored. */
export interface NetworkProxy {
  readonly port: number;
  /** The URL to use instead of `url`. */
  urlFor(url: string): string;
  /** Stops forwarding without closing anything: packets vanish, like a broken route. */
  blackhole(): void;
  /** Resets every open connection and refuses new ones. */
  cut(): void;
  /** Forwards again. */
  restore(): void;
  close(): Promise<void>;
}

function connect([a, b]: [Socket, Socket]): void {
  a.pipe(b);
  b.pipe(a);
}

function hold([a, b]: [Socket, Socket]): void {
  a.unpipe(b);
  b.unpipe(a);
  a.pause();
  b.pause();
}

/** Starts a TCP proxy on 127.0.0.1 forwarding to `port`. */
export async function startNetworkProxy(targetPort: number): Promise<NetworkProxy> {
  let mode: 'open' | 'blackhole' | 'cut' = 'open';
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((client) => {
    if (mode === 'cut') {
      client.resetAndDestroy();
      return;
    }
    const upstream = new Socket();
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    if (mode === 'open') connect(pair);
    else hold(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    upstream.connect(targetPort, '127.0.0.1');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    urlFor(url) {
      const parsed = new URL(url);
      parsed.port = String(port);
      return parsed.toString();
    },
    blackhole() {
      // Nothing is read any more, so nothing is forwarded: bytes wait in the kernel as on a dead route.
      mode = 'blackhole';
      for (const pair of pairs) hold(pair);
    },
    cut() {
      mode = 'cut';
      for (const [a, b] of pairs) {
        a.resetAndDestroy();
        b.resetAndDestroy();
      }
      pairs.clear();
    },
    restore() {
      mode = 'open';
      for (const pair of pairs) connect(pair);
    },
    async close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
