import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { ClusterEndpoint } from './postgres-cluster.ts';

// int8 (bigint) and numeric come back as strings by default; Slipway's counters fit in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/** Connection settings for a pool: a URL, or discrete fields (socket directory or host). */
export type ConnectionSettings = { readonly connectionString: string } | ClusterEndpoint;

/** Options for a database handle. */
export interface DatabaseOptions {
  /** Most connections the pool opens. @default 10 */
  readonly maxConnections?: number;
  /** Name shown in pg_stat_activity. @default 'slipway' */
  readonly applicationName?: string;
}

/** A Kysely handle and the pg pool under it. */
export interface Database {
  readonly db: Kysely<any>;
  readonly pool: pg.Pool;
  readonly settings: ConnectionSettings;
  /** Closes every connection. */
  close(): Promise<void>;
}

/** pg client options for connection settings. */
export function toPgConfig(settings: ConnectionSettings, options: DatabaseOptions = {}): pg.PoolConfig {
  const base = { application_name: options.applicationName ?? 'slipway', max: options.maxConnections ?? 10 };
  if ('connectionString' in settings) return { ...base, connectionString: settings.connectionString };
  return {
    ...base,
    host: settings.host,
    port: settings.port,
    user: settings.user,
    password: settings.password,
    database: settings.database,
  };
}

/**
 * Makes a pool's clients losing their connection (a restarted or stopped server) fail only their
 * queries, never the process. The pool reports idle clients; a client checked out for a query or a
 * transaction has no listener of its own, so pg would raise its 'error' event as an uncaught exception.
 */
export function survivingLostConnections(pool: pg.Pool): pg.Pool {
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Opens a pooled database handle. Connections are made lazily, on first use. */
export function openDatabase(settings: ConnectionSettings, options: DatabaseOptions = {}): Database {
  const pool = survivingLostConnections(new pg.Pool(toPgConfig(settings, options)));
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    pool,
    settings,
    close: () => db.destroy(),
  };
}

/**
 * Options for a dedicated client beside `pool`, with the pool's connection settings. (pg keeps the
 * pool's password as a non-enumerable property, so spreading `pool.options` alone would drop it.)
 */
export function dedicatedClientConfig(pool: pg.Pool, applicationName: string): pg.ClientConfig {
  return { ...pool.options, password: pool.options.password, application_name: applicationName };
}

/** A postgres:// URL for an endpoint (socket directories go in the `host` query parameter). */
export function endpointUrl(endpoint: ClusterEndpoint): string {
  const auth = `${encodeURIComponent(endpoint.user)}:${encodeURIComponent(endpoint.password)}`;
  if (endpoint.host.startsWith('/')) {
    return `postgres://${auth}@localhost:${endpoint.port}/${encodeURIComponent(endpoint.database)}?host=${encodeURIComponent(endpoint.host)}`;
  }
  return `postgres://${auth}@${endpoint.host}:${endpoint.port}/${encodeURIComponent(endpoint.database)}`;
}

/**
 * Runs `work` in one transaction: it commits when `work` resolves and rolls back when it throws.
 * (Typed as Kysely<any> so each module can read the transaction as its own tables.)
 */
export function inTransaction<T>(db: Kysely<any>, work: (trx: Kysely<any>) => Promise<T>): Promise<T> {
  return db.transaction().execute((trx) => work(trx));
}
