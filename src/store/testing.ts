/**
 * Real-resource fixtures for tests: a PostgreSQL 15 cluster on 127.0.0.1 with a port it picks,
 * in a temporary directory, removed by `stop()`.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomToken } from '../core/index.ts';
import { endpointUrl } from './database.ts';
import { PostgresCluster } from './postgres-cluster.ts';

/** A running throwaway cluster. */
export interface TestPostgres {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly cluster: PostgresCluster;
  /** Stops the cluster and removes its directory. */
  stop(): Promise<void>;
}

/** Options for a throwaway cluster. */
export interface StartPostgresOptions {
  /** Extra postgresql.conf settings. */
  readonly settings?: Readonly<Record<string, string | number>>;
  /** Keep durability on (fsync); off by default because test data is thrown away. */
  readonly durable?: boolean;
}

/** Finds a free TCP port on 127.0.0.1 (the OS picks it; a race with other processes is possible). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** Starts a throwaway PostgreSQL 15 cluster on 127.0.0.1 (as the postgres OS user when root). */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<TestPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-pg-'));
  await chmod(dir, 0o711); // the postgres OS user must pass through it
  const password = randomToken(18);
  const settings: Record<string, string> = options.durable
    ? {}
    : { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' };
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const cluster = new PostgresCluster({
      dataDir: join(dir, 'data'),
      socketDir: join(dir, 'run'),
      port,
      password,
      settings: { ...settings, max_connections: 100, ...options.settings },
    });
    try {
      await cluster.start();
    } catch (error) {
      lastError = error; // most likely the port was taken between picking and binding
      continue;
    }
    const endpoint = cluster.endpoint;
    return {
      ...endpoint,
      url: endpointUrl(endpoint),
      cluster,
      stop: async () => {
        await cluster.stop('immediate').catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}
