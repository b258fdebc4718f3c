/**
 * Secrets benchmark (Secrets issue): secret read latency through the API of a running server (the
 * built `slipway server` as its own process, with a root key file), and the time to resolve, render
 * and inject a 200-key secret set (decrypt + Laravel .env + atomic 0600 write).
 *
 * Baselines in the same run:
 * - reads: GET /api/whoami (authenticated, not audited) and GET of the secret's metadata (authenticated,
 *   audited, nothing decrypted), against GET of the value (audited and decrypted);
 * - injection: the same 200 rows read without decrypting, the same pairs joined without quoting, and
 *   the same bytes written with a plain writeFile (no temporary file, fsync or rename).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import {
  currentSecretSetVersion,
  generateRootKey,
  renderLaravelEnv,
  resolveSecretSet,
  SecretVault,
  writeEnvFileAtomically,
} from '../src/secrets/index.ts';
import { openDatabase } from '../src/store/index.ts';
import { freePort, startPostgres } from '../src/store/testing.ts';
import { report } from './support.ts';

const READS = Number(process.env.BENCH_READS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 50);
const KEYS = 200;
const PASSWORD = 'bench-admin-password';
const BIN = new URL('../bin/slipway.js', import.meta.url).pathname;

function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const ms = (value: number) => Number(value.toFixed(3));

async function timeEach(count: number, work: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await work();
    samples.push(performance.now() - started);
  }
  return samples;
}

async function startServer(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'server', '--port', String(port), '--log-level', 'warn'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
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
  return { url: `http://127.0.0.1:${port}`, child };
}

const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-secrets-'));
const postgres = await startPostgres();
const keyFile = join(dir, 'root.key');
await writeFile(keyFile, `${generateRootKey()}\n`, { mode: 0o600 });
const server = await startServer({
  SLIPWAY_DATA_DIR: join(dir, 'data'),
  SLIPWAY_DATABASE_URL: postgres.url,
  SLIPWAY_ROOT_KEY_FILE: keyFile,
  SLIPWAY_ADMIN_PASSWORD: PASSWORD,
});
const database = openDatabase({ connectionString: postgres.url }, { maxConnections: 4 });
try {
  const login = await fetch(`${server.url}/api/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: PASSWORD, name: 'bench' }),
  });
  const { value: token } = (await login.json()) as { value: string };
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };

  // A 200-key secret set like a large Laravel app's, a tenth of them multi-line (keys, certificates).
  const entries = Array.from({ length: KEYS }, (_, i) => ({
    name: `BENCH_KEY_${String(i).padStart(3, '0')}`,
    value:
      i % 10 === 0
        ? `-----BEGIN KEY-----\n${randomBytes(600).toString('base64')}\n-----END KEY-----`
        : randomBytes(30).toString('base64'),
  }));
  await call('POST', '/api/secrets/environments/bench/import', { entries, reason: 'bench' });
  // Table statistics as autovacuum keeps them on a live database (fresh tables have none, and the
  // planner then joins 200 set members by nested loops).
  await sql`ANALYZE`.execute(database.db);

  // --- Reads through the API, one at a time (latency), after a warm-up. ---
  const paths = {
    whoami: '/api/whoami',
    metadata: '/api/secrets/environments/bench/BENCH_KEY_001',
    value: '/api/secrets/environments/bench/BENCH_KEY_001/value',
  };
  for (const path of Object.values(paths)) await timeEach(200, () => call('GET', path));
  const reads: Record<string, number[]> = {};
  for (const [name, path] of Object.entries(paths))
    reads[name] = await timeEach(READS, () => call('GET', path));
  const readRow = (name: string, what: string) => ({
    measure: what,
    'p50 ms': ms(percentile(reads[name]!, 50)),
    'p99 ms': ms(percentile(reads[name]!, 99)),
  });
  const readRows = [
    readRow('whoami', 'baseline: GET /api/whoami (no audit)'),
    readRow('metadata', 'baseline: GET secret metadata (audited, no decryption)'),
    readRow('value', 'GET secret value (audited, decrypted)'),
  ];

  // --- Resolve, render and inject a 200-key set, in this process (as the deployments module will). ---
  const vault = await SecretVault.open({ db: database.db, rootKey: { file: keyFile } });
  const setVersion = await currentSecretSetVersion(database.db, 'bench');
  const envFile = join(dir, 'app.env');
  const plainFile = join(dir, 'plain.env');
  let text = '';
  let values: Record<string, string> = {};
  const resolve = await timeEach(ROUNDS, async () => {
    values = {
      ...(await resolveSecretSet(database.db, { vault, environment: 'bench', setVersion, actor: 'bench' }))
        .values,
    };
  });
  const fetchOnly = await timeEach(ROUNDS, () =>
    database.db
      .selectFrom('secret_versions as v')
      .innerJoin('secrets as s', 's.id', 'v.secret_id')
      .select(['s.name', 'v.version', 'v.nonce', 'v.ciphertext', 'v.data_key_id'])
      .where('s.environment', '=', 'bench')
      .execute(),
  );
  const render = await timeEach(ROUNDS, async () => {
    text = renderLaravelEnv({ secrets: values, config: { APP_ENV: 'bench' } });
  });
  const join200 = await timeEach(ROUNDS, async () =>
    Object.entries(values)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
  );
  const inject = await timeEach(ROUNDS, () => writeEnvFileAtomically(envFile, text, { uid: 0, gid: 0 }));
  const plainWrite = await timeEach(ROUNDS, () => writeFile(plainFile, text));
  const total = resolve.map((r, i) => r + render[i]! + inject[i]!);
  const row = (measure: string, samples: number[]) => ({
    measure,
    'p50 ms': ms(percentile(samples, 50)),
    'p99 ms': ms(percentile(samples, 99)),
  });
  const injectRows = [
    row('baseline: read the 200 rows, no decryption', fetchOnly),
    row('resolveSecretSet: 200 values decrypted + audit entry', resolve),
    row('baseline: join 200 pairs, no quoting', join200),
    row('renderLaravelEnv: 200 keys', render),
    row('baseline: writeFile of the same bytes', plainWrite),
    row('writeEnvFileAtomically: 0600, fsync, rename', inject),
    row('total: resolve + render + inject', total),
  ];

  report(`secrets: reads through the API (${READS} sequential requests each)`, readRows, {
    valueReadP50Ms: readRows[2]!['p50 ms'],
    valueReadP99Ms: readRows[2]!['p99 ms'],
    valueToWhoamiP50Ratio: Number((readRows[2]!['p50 ms'] / readRows[0]!['p50 ms']).toFixed(2)),
    valueToMetadataP50Ratio: Number((readRows[2]!['p50 ms'] / readRows[1]!['p50 ms']).toFixed(2)),
  });
  report(
    `secrets: resolve, render and inject a ${KEYS}-key set (${ROUNDS} rounds, ${text.length} bytes)`,
    injectRows,
    {
      keys: KEYS,
      bytes: Buffer.byteLength(text),
      totalP50Ms: ms(percentile(total, 50)),
      totalP99Ms: ms(percentile(total, 99)),
      resolveToFetchRatio: Number((percentile(resolve, 50) / percentile(fetchOnly, 50)).toFixed(2)),
      renderToJoinRatio: Number((percentile(render, 50) / percentile(join200, 50)).toFixed(2)),
      atomicToPlainWriteRatio: Number((percentile(inject, 50) / percentile(plainWrite, 50)).toFixed(2)),
    },
  );
} finally {
  await database.close();
  await new Promise<void>((resolve) => {
    if (server.child.exitCode !== null) return resolve();
    server.child.once('exit', () => resolve());
    server.child.kill('SIGTERM');
  });
  await postgres.stop();
  await rm(dir, { recursive: true, force: true });
}
