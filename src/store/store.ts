import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConflictError, type Logger, randomToken, UnavailableError } from '../core/index.ts';
import { type ConnectionSettings, type Database, openDatabase } from './database.ts';
import { findUnreachableAncestor, PostgresCluster } from './postgres-cluster.ts';

/** Where clusters go when the data directory cannot be reached by the postgres OS user. */
export const FALLBACK_CLUSTER_ROOT = '/var/lib/slipway/clusters';

/** Options for opening Slipway's store. */
export interface OpenStoreOptions {
  /** An external PostgreSQL; when set, no embedded cluster is started. */
  readonly databaseUrl?: string;
  /** Slipway's data directory; the embedded cluster lives under it. */
  readonly dataDir: string;
  readonly logger?: Logger;
  /** @default 10 */
  readonly maxConnections?: number;
}

/** Slipway's database, and the embedded cluster when there is one. */
export interface Store extends Database {
  /** The embedded cluster, when Slipway started one. */
  readonly cluster?: PostgresCluster;
  /** Human-readable description of where the data is (never with credentials). */
  readonly location: string;
}

interface StoreState {
  readonly clusterDir: string;
  readonly superuserPassword: string;
  readonly appPassword: string;
}

async function readOrCreateState(dataDir: string): Promise<StoreState> {
  const path = join(dataDir, 'store.json');
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  if (existing) return JSON.parse(existing) as StoreState;
  const reachable = (await findUnreachableAncestor(dataDir)) === undefined;
  const hash = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 12);
  const state: StoreState = {
    clusterDir: reachable ? join(dataDir, 'postgres') : join(FALLBACK_CLUSTER_ROOT, hash),
    superuserPassword: randomToken(24),
    appPassword: randomToken(24),
  };
  await writeFile(path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  return state;
}

/**
 * Opens the store: the external database named by `databaseUrl`, or else the embedded PostgreSQL 15
 * cluster under `dataDir` (created on first use, reused afterwards, stopped by `close()`).
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const maxConnections = options.maxConnections ?? 20;
  if (options.databaseUrl) {
    const database = openDatabase({ connectionString: options.databaseUrl }, { maxConnections });
    return { ...database, location: 'external PostgreSQL (SLIPWAY_DATABASE_URL)' };
  }
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o711 });
  const state = await readOrCreateState(dataDir);
  const cluster = new PostgresCluster({
    dataDir: join(state.clusterDir, 'data'),
    password: state.superuserPassword,
    settings: { max_connections: 100, shared_buffers: "'128MB'" },
  });
  const fresh = !(await cluster.isInitialized());
  if (fresh)
    options.logger?.info({ clusterDir: state.clusterDir }, 'creating the embedded PostgreSQL cluster');
  // A cluster left running by a crashed control plane is adopted: start() leaves it as it is.
  await cluster.start();
  await ensureAppDatabase(cluster, state.appPassword);
  const settings: ConnectionSettings = {
    ...cluster.endpoint,
    user: 'slipway',
    password: state.appPassword,
    database: 'slipway',
  };
  const database = openDatabase(settings, { maxConnections });
  return {
    ...database,
    cluster,
    location: `embedded PostgreSQL 15 in ${state.clusterDir}`,
    close: async () => {
      await database.close();
      // The embedded cluster belongs to this data directory alone, so it stops with the server.
      await cluster.stop('fast');
    },
  };
}

async function ensureAppDatabase(cluster: PostgresCluster, appPassword: string): Promise<void> {
  const admin = openDatabase(cluster.endpoint, { maxConnections: 1, applicationName: 'slipway-setup' });
  try {
    const client = await admin.pool.connect();
    try {
      const role = await client.query(`SELECT 1 FROM pg_roles WHERE rolname = 'slipway'`);
      if (role.rowCount === 0) {
        // The password is a generated token of URL-safe characters, so quoting it is safe.
        await client.query(`CREATE ROLE slipway LOGIN PASSWORD '${appPassword}'`);
      }
      const database = await client.query(`SELECT 1 FROM pg_database WHERE datname = 'slipway'`);
      if (database.rowCount === 0) await client.query('CREATE DATABASE slipway OWNER slipway');
    } finally {
      client.release();
    }
  } finally {
    await admin.close();
  }
}

/** Data directories this process holds (a pid file alone cannot tell two servers in one process apart). */
const HELD_DATA_DIRS = new Set<string>();

/**
 * Takes the data directory for this process: one control plane per embedded data directory.
 * Returns a function that releases it.
 * @throws ConflictError when a live process already holds it
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const path = join(resolve(dataDir), 'server.pid');
  await mkdir(resolve(dataDir), { recursive: true, mode: 0o711 });
  const existing = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  const heldHere = existing === process.pid && HELD_DATA_DIRS.has(path);
  if (
    Number.isInteger(existing) &&
    existing > 0 &&
    (heldHere || (existing !== process.pid && isAlive(existing)))
  ) {
    throw new ConflictError(
      `Cannot use data directory "${resolve(dataDir)}": Slipway server ${existing} is using it`,
      {
        hint: `Stop that server first, or choose another directory with --data-dir`,
        retryable: false,
      },
    );
  }
  await writeFile(path, `${process.pid}\n`, { mode: 0o644 });
  HELD_DATA_DIRS.add(path);
  return async () => {
    HELD_DATA_DIRS.delete(path);
    await rm(path, { force: true });
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Checks that the database answers; used by /readyz. */
export async function pingDatabase(database: Database, timeoutMs = 2000): Promise<void> {
  const timer = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new UnavailableError('The database did not answer in time')), timeoutMs).unref(),
  );
  await Promise.race([database.pool.query('SELECT 1'), timer]);
}
