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
  client.on('error', () => undefined);
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
    batchIntervalMs: 10,
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
  client.on('error', () => undefined);
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

/** A running background workload on a database. */
export interface Workload {
  /** Transactions committed so far. */
  readonly committed: () => number;
  /** Stops the sessions after their current transaction. */
  stop(): Promise<number>;
}

/**
 * Runs a mixed workload on the SaaS schema from `connections` sessions until stopped: single-row
 * inserts, updates and deletes, key updates, bulk updates of thousands of rows, TRUNCATE of a small
 * table. Sessions reconnect when the server goes away (a restarted source).
 */
export function startWorkload(
  url: string,
  options: { connections?: number; bulkRows?: number } = {},
): Workload {
  let running = true;
  let committed = 0;
  const bulk = options.bulkRows ?? 5_000;
  const session = async (n: number) => {
    let client: pg.Client | undefined;
    let i = 0;
    while (running) {
      try {
        if (!client) {
          const fresh = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
          fresh.on('error', () => undefined);
          try {
            await fresh.connect();
            await fresh.query("SET lock_timeout = '2s'");
          } catch {
            // A client that never connected queues queries forever: drop it and try again later.
            await fresh.end().catch(() => undefined);
            await new Promise((resolve) => setTimeout(resolve, 200));
            continue;
          }
          client = fresh;
        }
        i += 1;
        const r = Math.random();
        await client.query('BEGIN');
        if (r < 0.05) {
          await client.query(
            `UPDATE events SET payload = payload || jsonb_build_object('round', $1::int) WHERE id IN (SELECT id FROM events ORDER BY random() LIMIT $2)`,
            [i, bulk],
          );
        } else if (r < 0.08) {
          await client.query('TRUNCATE settings');
          await client.query(`INSERT INTO settings VALUES (1, 'after', '{"t": true}')`);
        } else if (r < 0.15) {
          await client.query(
            'UPDATE organisations SET id = id + 100000 WHERE id = (SELECT min(id) FROM organisations)',
          );
        } else {
          const user = await client.query<{ id: string }>(
            `INSERT INTO users (organisation_id, email, display_name) SELECT id, $1, $2 FROM organisations ORDER BY random() LIMIT 1 RETURNING id::text`,
            [`w${n}-${i}-${Date.now()}@example.com`, `session ${n}`],
          );
          await client.query(`INSERT INTO events (user_id, kind, payload) VALUES ($1, 'work', $2)`, [
            user.rows[0]?.id ?? null,
            JSON.stringify({ n, i, text: `é"\\'\t${i}` }),
          ]);
          await client.query(
            `UPDATE users SET score = random() WHERE id = (SELECT max(id) FROM users) - $1`,
            [n],
          );
          if (i % 4 === 0) await client.query('DELETE FROM events WHERE id = (SELECT min(id) FROM events)');
          await client.query(`INSERT INTO settings VALUES ($1, 'k' || $2, '1') ON CONFLICT DO NOTHING`, [
            n,
            i % 20,
          ]);
        }
        await client.query('COMMIT');
        committed += 1;
      } catch {
        await client?.query('ROLLBACK').catch(() => undefined);
        if (
          client &&
          !(await client.query('SELECT 1').then(
            () => true,
            () => false,
          ))
        ) {
          await client.end().catch(() => undefined);
          client = undefined;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    }
    await client?.end().catch(() => undefined);
  };
  const sessions = Array.from({ length: options.connections ?? 3 }, (_, n) => session(n));
  return {
    committed: () => committed,
    async stop() {
      running = false;
      await Promise.all(sessions);
      return committed;
    },
  };
}

/** Seeds the SaaS schema on the source with organisations, users and events. */
export async function seedSaas(url: string, scale = 1): Promise<void> {
  await runSql(
    url,
    `INSERT INTO organisations (name) SELECT 'org-' || i FROM generate_series(1, ${20 * scale}) i;
     INSERT INTO users (organisation_id, email) SELECT 1 + i % ${20 * scale}, 'seed' || i || '@example.com'
       FROM generate_series(1, ${400 * scale}) i;
     INSERT INTO events (user_id, kind, payload) SELECT 1 + i % ${400 * scale}, 'seed', jsonb_build_object('i', i, 'pad', repeat('x', 100))
       FROM generate_series(1, ${20_000 * scale}) i;`,
  );
}
