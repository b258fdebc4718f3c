import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../src/store/testing.ts';

/** A `slipway server` child process on a temporary data directory. */
export interface BenchServer {
  readonly url: string;
  readonly child: ChildProcess;
  readonly dataDir: string;
  /** Milliseconds from spawn to "is ready". */
  readonly startMs: number;
  stop(): Promise<void>;
}

const BIN = new URL('../bin/slipway.js', import.meta.url).pathname;

/** Starts the built server as its own process (so load generators do not share its event loop). */
export async function startBenchServer(options: {
  dataDir?: string;
  adminPassword: string;
  /** A file holding the secret store's root key (without it the store is sealed). */
  rootKeyFile?: string;
}): Promise<BenchServer> {
  const dataDir = options.dataDir ?? join(await mkdtemp(join(tmpdir(), 'slipway-bench-')), 'data');
  await chmod(join(dataDir, '..'), 0o711);
  const port = await freePort();
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [BIN, 'server', '--data-dir', dataDir, '--port', String(port), '--log-level', 'warn'],
    {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        SLIPWAY_ADMIN_PASSWORD: options.adminPassword,
        ...(options.rootKeyFile ? { SLIPWAY_ROOT_KEY_FILE: options.rootKeyFile } : {}),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 60_000);
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
      if (stderr.includes('is ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });
  const startMs = performance.now() - started;
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    dataDir,
    startMs,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Removes a bench data directory (the parent of `dataDir`). */
export async function removeBenchDir(dataDir: string): Promise<void> {
  await rm(join(dataDir, '..'), { recursive: true, force: true });
}

/** Prints a table of figures and one JSON line for machines. */
export function report(
  name: string,
  rows: readonly Record<string, string | number>[],
  summary: Record<string, unknown>,
): void {
  const columns = Object.keys(rows[0] ?? {});
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ');
  process.stdout.write(`\n${name}\n${line(columns)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const row of rows) process.stdout.write(`${line(columns.map((c) => String(row[c])))}\n`);
  process.stdout.write(`BENCH ${JSON.stringify({ bench: name, ...summary })}\n`);
}
