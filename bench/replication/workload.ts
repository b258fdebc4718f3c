/**
 * The benchmark's workload: pgbench (scale 10, with a primary key on pgbench_history) plus a
 * SaaS-shaped schema (organisations, users, events with jsonb), a marker table written every 100 ms
 * to measure lag, the bulk statements, and the checks that the replica equals the master.
 */
import { join } from 'node:path';
import pg from 'pg';
import { type BenchCluster, runProgram, sql } from './clusters.ts';

const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';

/** Every replicated table, parents first; each has a primary key. */
export const TABLES = [
  'public.pgbench_branches',
  'public.pgbench_tellers',
  'public.pgbench_accounts',
  'public.pgbench_history',
  'public.organisations',
  'public.users',
  'public.events',
  'public.markers',
];

/** The replicated sequences. */
export const SEQUENCES = [
  'public.pgbench_history_hid_seq',
  'public.organisations_id_seq',
  'public.users_id_seq',
  'public.events_id_seq',
  'public.markers_id_seq',
];

const SAAS_SCHEMA = `
CREATE TABLE organisations (id bigserial PRIMARY KEY, name text NOT NULL, plan text NOT NULL DEFAULT 'team',
  settings jsonb NOT NULL DEFAULT '{}', created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE users (id bigserial PRIMARY KEY, organisation_id bigint NOT NULL REFERENCES organisations (id),
  email text NOT NULL UNIQUE, name text, last_seen timestamptz);
CREATE TABLE events (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id),
  kind text NOT NULL, payload jsonb NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE INDEX events_user ON events (user_id);
CREATE TABLE markers (id bigserial PRIMARY KEY, at timestamptz NOT NULL);
`;

/**
 * A BEFORE row trigger on each pgbench table whose PL/pgSQL function only returns the row: the cost
 * of calling PL/pgSQL once per changed row, which every trigger-based capture pays before it writes
 * anything.
 */
const EMPTY_TRIGGERS = `
CREATE FUNCTION empty_capture() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$;
${['pgbench_branches', 'pgbench_tellers', 'pgbench_accounts', 'pgbench_history']
  .map(
    (table) =>
      `CREATE TRIGGER empty_capture BEFORE INSERT OR UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION empty_capture();`,
  )
  .join('\n')}
`;

/** Creates the bench database and schema on both clusters, and loads the master. */
export async function prepareDatabases(
  master: BenchCluster,
  replica: BenchCluster,
  scale: number,
): Promise<void> {
  for (const cluster of [master, replica]) await sql(cluster.url(), 'CREATE DATABASE bench');
  // "control": the same pgbench tables, never replicated, in the same cluster: tps is measured in
  // alternating rounds on both, so the machine's load varies alike for the two. "floor": the same
  // tables with a row trigger that does nothing, the least any PL/pgSQL capture can cost.
  await sql(master.url(), 'CREATE DATABASE control');
  await sql(master.url(), 'CREATE DATABASE floor');
  for (const database of ['bench', 'control', 'floor']) {
    await runProgram(PGBENCH, [
      '-h',
      '127.0.0.1',
      '-p',
      String(master.port),
      '-U',
      'postgres',
      '-i',
      '-s',
      String(scale),
      '-q',
      database,
    ]);
    await sql(master.url(database), 'ALTER TABLE pgbench_history ADD COLUMN hid bigserial PRIMARY KEY');
  }
  await sql(master.url('floor'), EMPTY_TRIGGERS);
  await sql(master.url('bench'), SAAS_SCHEMA);
  const users = 20 * scale * 100;
  await sql(
    master.url('bench'),
    `INSERT INTO organisations (name, settings) SELECT 'org ' || i, jsonb_build_object('seats', i % 50) FROM generate_series(1, ${scale * 100}) i;
     INSERT INTO users (organisation_id, email, name, last_seen)
       SELECT 1 + i % ${scale * 100}, 'user' || i || '@example.com', 'User ' || i, now() - i * interval '1 minute'
       FROM generate_series(1, ${users}) i;
     INSERT INTO events (user_id, kind, payload)
       SELECT 1 + i % ${users}, (ARRAY['login', 'view', 'purchase'])[1 + i % 3],
              jsonb_build_object('n', i, 'path', '/items/' || (i % 997), 'tags', jsonb_build_array('a', i % 7))
       FROM generate_series(1, ${scale * 30_000}) i;`,
  );
  await sql(master.url('bench'), 'VACUUM ANALYZE');
  await sql(master.url('control'), 'VACUUM ANALYZE');
  await sql(master.url('floor'), 'VACUUM ANALYZE');
  // The replica gets the same schema, empty.
  // pg_dump writes psql meta-commands (\\restrict): restore with psql.
  const dump = join(replica.dir, 'schema.sql');
  await runProgram('/usr/lib/postgresql/15/bin/pg_dump', [
    '--schema-only',
    '--no-owner',
    '-f',
    dump,
    master.url('bench'),
  ]);
  await runProgram('/usr/lib/postgresql/15/bin/psql', [
    '-q',
    '-v',
    'ON_ERROR_STOP=1',
    '-f',
    dump,
    replica.url('bench'),
  ]);
}

/** Row changes (inserts + updates + deletes) the master's statistics show for the replicated tables. */
export async function rowChanges(master: BenchCluster): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 1_100)); // statistics are flushed about once a second
  const [row] = await sql<{ n: string }>(
    master.url('bench'),
    `SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::text AS n FROM pg_stat_user_tables
      WHERE schemaname || '.' || relname = ANY($1::text[])`,
    [TABLES],
  );
  return Number(row!.n);
}

/**
 * Marker rows committed on the master every 100 ms, and a poller on the replica (every 10 ms) that
 * records when each first appears: lag = seen − committed, on the same clock.
 */
export class LagProbe {
  readonly #master: pg.Client;
  readonly #replica: pg.Client;
  readonly #committed = new Map<number, number>();
  readonly #seen = new Map<number, number>();
  readonly #waiters = new Map<number, () => void>();
  #lastSeen = 0;
  #running = false;
  #paused = false;
  #writer: Promise<void> | undefined;
  #poller: Promise<void> | undefined;

  private constructor(master: pg.Client, replica: pg.Client) {
    this.#master = master;
    this.#replica = replica;
  }

  static async start(master: BenchCluster, replica: BenchCluster): Promise<LagProbe> {
    const m = new pg.Client({ connectionString: master.url('bench') });
    const r = new pg.Client({ connectionString: replica.url('bench') });
    await Promise.all([m.connect(), r.connect()]);
    const probe = new LagProbe(m, r);
    const [last] = (await r.query<{ id: string }>('SELECT coalesce(max(id), 0)::text AS id FROM markers'))
      .rows;
    probe.#lastSeen = Number(last!.id);
    probe.#running = true;
    probe.#writer = probe.#write();
    probe.#poller = probe.#poll();
    return probe;
  }

  /** Commits a marker now and returns its id (used as a sentinel after a phase). */
  async mark(): Promise<number> {
    const { rows } = await this.#master.query<{ id: string; at: Date }>(
      'INSERT INTO markers (at) VALUES (clock_timestamp()) RETURNING id::text, at',
    );
    const id = Number(rows[0]!.id);
    this.#committed.set(id, Date.now());
    return id;
  }

  /** Waits until marker `id` is visible on the replica; returns when it was seen (ms epoch). */
  async seen(id: number, timeoutMs = 30 * 60_000): Promise<number> {
    if (this.#seen.has(id) || this.#lastSeen >= id) return this.#seen.get(id) ?? Date.now();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `marker ${id} did not reach the replica within ${timeoutMs / 1000} s (BENCH_CATCH_UP_TIMEOUT_S)`,
            ),
          ),
        timeoutMs,
      );
      this.#waiters.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.#seen.get(id) ?? Date.now();
  }

  /** Lags (seconds) of markers committed between `from` and `to` (ms epoch). */
  lags(from: number, to: number): number[] {
    const lags: number[] = [];
    for (const [id, committed] of this.#committed) {
      if (committed < from || committed > to) continue;
      const seen = this.#seen.get(id);
      if (seen !== undefined) lags.push((seen - committed) / 1000);
    }
    return lags.sort((a, b) => a - b);
  }

  /** Stops writing markers (while the sides are compared); `resume` starts again. */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
  }

  async #write(): Promise<void> {
    while (this.#running) {
      const started = Date.now();
      if (!this.#paused) await this.mark().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - started))));
    }
  }

  async #poll(): Promise<void> {
    while (this.#running) {
      const started = Date.now();
      const { rows } = await this.#replica
        .query<{ id: string }>('SELECT id::text FROM markers WHERE id > $1 ORDER BY id', [this.#lastSeen])
        .catch(() => ({ rows: [] as { id: string }[] }));
      const now = Date.now();
      for (const row of rows) {
        const id = Number(row.id);
        this.#seen.set(id, now);
        this.#lastSeen = Math.max(this.#lastSeen, id);
      }
      for (const [id, wake] of this.#waiters) {
        if (this.#lastSeen >= id) {
          this.#waiters.delete(id);
          wake();
        }
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10 - (Date.now() - started))));
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all([this.#writer, this.#poller]);
    await Promise.all([this.#master.end(), this.#replica.end()]);
  }
}

/** The value at quantile `q` of sorted numbers. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function tableHashes(url: string): Promise<Map<string, string>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const hashes = new Map<string, string>();
    for (const table of TABLES) {
      const key = table.endsWith('pgbench_history')
        ? 'hid'
        : table.endsWith('accounts')
          ? 'aid'
          : table.endsWith('tellers')
            ? 'tid'
            : table.endsWith('branches')
              ? 'bid'
              : 'id';
      const { rows } = await client.query<{ h: string }>(
        `SELECT count(*) || ':' || coalesce(md5(string_agg(md5(t::text), '' ORDER BY ${key})), '') AS h FROM ${table} t`,
      );
      hashes.set(table, rows[0]!.h);
    }
    for (const sequence of SEQUENCES) {
      const { rows } = await client.query<{ v: string }>(`SELECT last_value::text AS v FROM ${sequence}`);
      hashes.set(sequence, rows[0]!.v);
    }
    return hashes;
  } finally {
    await client.end();
  }
}

/**
 * Waits until every replicated table has the same row count and content hash on both sides (and every
 * sequence the same value); returns the tables that still differ at the deadline (empty when equal).
 */
export async function waitIdentical(
  master: BenchCluster,
  replica: BenchCluster,
  timeoutMs = 120_000,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let differing: string[] = [];
  while (Date.now() < deadline) {
    const [a, b] = await Promise.all([tableHashes(master.url('bench')), tableHashes(replica.url('bench'))]);
    differing = [...a.keys()].filter((k) => a.get(k) !== b.get(k));
    if (differing.length === 0) return [];
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  return differing;
}
