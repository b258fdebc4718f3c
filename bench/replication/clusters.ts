/**
 * PostgreSQL 15 clusters for the replication benchmark: durable (default fsync and commit settings),
 * on 127.0.0.1 with a port each, trusting local TCP logins so Bucardo and Slony-I can connect the way
 * their documentation shows. Removed by `stop()`.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { PostgresCluster } from '../../src/store/index.ts';
import { freePort } from '../../src/store/testing.ts';

const run = promisify(execFile);

/** A running bench cluster. */
export interface BenchCluster {
  readonly name: string;
  readonly port: number;
  readonly dir: string;
  /** postgres://postgres@127.0.0.1:PORT/DATABASE */
  url(database?: string): string;
  /** libpq key=value connection info (Slony, Bucardo). */
  conninfo(database?: string): string;
  stop(): Promise<void>;
}

/** Starts a cluster; `settings` go to postgresql.conf. */
export async function startBenchCluster(
  name: string,
  settings: Readonly<Record<string, string | number>> = {},
): Promise<BenchCluster> {
  const dir = await mkdtemp(join(tmpdir(), `slipway-bench-${name}-`));
  await chmod(dir, 0o711);
  const port = await freePort();
  const cluster = new PostgresCluster({
    dataDir: join(dir, 'data'),
    socketDir: join(dir, 'run'),
    port,
    password: 'bench',
    settings: { max_connections: 100, ...settings },
  });
  await cluster.initialize();
  // Trust local TCP logins: the competitors' daemons connect without a password file.
  const hba = join(dir, 'data', 'pg_hba.conf');
  const text = await readFile(hba, 'utf8');
  await writeFile(hba, text.replaceAll('scram-sha-256', 'trust'));
  await cluster.start();
  return {
    name,
    port,
    dir,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    conninfo: (database = 'postgres') => `host=127.0.0.1 port=${port} dbname=${database} user=postgres`,
    async stop() {
      await cluster.stop('immediate').catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs SQL (one or more statements) and returns the last statement's rows. */
export async function sql<T = Record<string, unknown>>(
  url: string,
  text: string,
  values?: unknown[],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const result = (await client.query(text, values)) as unknown as pg.QueryResult | pg.QueryResult[];
    return (Array.isArray(result) ? result.at(-1)! : result).rows as T[];
  } finally {
    await client.end();
  }
}

/** Runs pgbench and returns its tps (without initial connection time). */
export async function pgbench(
  cluster: BenchCluster,
  args: readonly string[],
  database = 'bench',
): Promise<number> {
  const { stdout } = await run(
    '/usr/lib/postgresql/15/bin/pgbench',
    ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', ...args, database],
    { maxBuffer: 64 * 1024 * 1024, timeout: 30 * 60_000 },
  );
  const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  if (!match) throw new Error(`pgbench printed no tps:\n${stdout}`);
  return Number(match[1]);
}

/** Runs a program and returns its output; failures carry stdout and stderr. */
export async function runProgram(
  file: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<string> {
  try {
    const { stdout, stderr } = await run(file, [...args], {
      env: { ...process.env, ...options.env },
      ...(options.cwd ? { cwd: options.cwd } : {}),
      timeout: options.timeoutMs ?? 300_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    void stderr;
    return stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}
