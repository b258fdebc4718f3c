/**
 * Reference application benchmark (issue 3), on this machine's PostgreSQL 15, php-fpm and HAProxy.
 *
 * Seeds the full data set (1,000 organisations, 50,000 users, 2,000,000 events; BENCH_SEED_SCALE
 * scales it), then measures:
 * - account analysis: a whole scheduled run (dispatch until the last organisation is stored) with
 *   one queue worker and with two, as seconds per million events. Baseline in the same run: the same
 *   aggregates computed by PostgreSQL alone in one GROUP BY pass over the events table (the floor
 *   for reading the data; the app streams rows into PHP in bounded chunks instead).
 * - the web process (php-fpm behind HAProxy): requests/s and latency of GET /api/organisations with
 *   autocannon on loopback. Baselines in the same run: GET /up (framework and one trivial query) and
 *   a hashed admin-UI asset (answered from HAProxy's cache, no PHP).
 *
 * Run: node --import tsx bench/reference-app.ts   (BENCH_DURATION seconds per load, default 10)
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { freePort, startPostgres } from '../src/store/testing.ts';
import { report } from './support.ts';

const APP_SOURCE = fileURLToPath(new URL('../examples/laravel-app', import.meta.url));
const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const SEED_SCALE = process.env.BENCH_SEED_SCALE ?? '1';
const CONNECTIONS = 16;
const VERSION = '1.0.0~bench';
const execFileAsync = promisify(execFile);

const BASE_ENVIRONMENT: NodeJS.ProcessEnv = {
  PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
  HOME: process.env.HOME ?? '/root',
  LANG: 'C.UTF-8',
};

function log(line: string): void {
  process.stderr.write(`[reference-app] ${line}\n`);
}

async function run(command: string, cwd: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { stdout } = await execFileAsync('sh', ['-c', command], {
    cwd,
    env: { ...BASE_ENVIRONMENT, ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

function start(command: string, cwd: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn('sh', ['-c', `exec ${command}`], {
    cwd,
    env: { ...BASE_ENVIRONMENT, ...env },
    stdio: 'ignore',
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  await exited;
  clearTimeout(timer);
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = performance.now();
  const value = await work();
  return { value, seconds: (performance.now() - started) / 1000 };
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

/** A table like support.ts's report(), without the JSON line: the bench ends with one JSON line. */
function printTable(name: string, rows: readonly Record<string, string | number>[]): void {
  const columns = Object.keys(rows[0] ?? {});
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => String(row[column]).length)),
  );
  const line = (values: string[]) => values.map((value, i) => value.padEnd(widths[i]!)).join('  ');
  process.stdout.write(`\n${name}\n${line(columns)}\n${line(widths.map((width) => '-'.repeat(width)))}\n`);
  for (const row of rows) process.stdout.write(`${line(columns.map((column) => String(row[column])))}\n`);
}

const loadAtStart = round(loadavg()[0]!);
const postgres = await startPostgres({ settings: { shared_buffers: '512MB', work_mem: '64MB' } });
const workspace = await mkdtemp(join(tmpdir(), 'laravel-app-bench-'));
const children: ChildProcess[] = [];
let database: pg.Client | undefined;

try {
  // A database with its own owner, as in production.
  const password = randomBytes(18).toString('base64url');
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  await admin.query(`CREATE ROLE laravel_app LOGIN PASSWORD '${password}'`);
  await admin.query('CREATE DATABASE laravel_app OWNER laravel_app');
  await admin.end();
  database = new pg.Client({
    host: postgres.host,
    port: postgres.port,
    user: 'laravel_app',
    password,
    database: 'laravel_app',
  });
  await database.connect();

  // A checkout, built and released the way slipway.yaml says.
  await chmod(workspace, 0o755);
  const { stdout: files } = await execFileAsync(
    'git',
    ['ls-files', '--cached', '--others', '--exclude-standard', '-z'],
    {
      cwd: APP_SOURCE,
    },
  );
  for (const file of files.split('\0').filter(Boolean)) {
    await mkdir(dirname(join(workspace, file)), { recursive: true });
    await cp(join(APP_SOURCE, file), join(workspace, file));
  }
  await run('npm ci --prefer-offline --no-audit --no-fund --silent && npm run --silent build', workspace);
  await writeFile(join(workspace, 'VERSION'), `${VERSION}\n`);
  const port = await freePort();
  await writeFile(
    join(workspace, '.env'),
    [
      'APP_ENV=bench',
      `APP_KEY=base64:${randomBytes(32).toString('base64')}`,
      `APP_URL=http://127.0.0.1:${port}`,
      `DB_HOST=${postgres.host}`,
      `DB_PORT=${postgres.port}`,
      'DB_DATABASE=laravel_app',
      'DB_USERNAME=laravel_app',
      `DB_PASSWORD=${password}`,
      'LOG_LEVEL=warning',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  await run(
    'php artisan migrate --force && php artisan config:cache && php artisan queue:restart',
    workspace,
  );

  // Seed.
  log(`seeding (SEED_SCALE=${SEED_SCALE})`);
  const seeding = await timed(() => run('php artisan db:seed --force', workspace, { SEED_SCALE }));
  const counts = (
    await database.query(
      `SELECT (SELECT count(*) FROM organisations)::int AS organisations, (SELECT count(*) FROM users)::int AS users,
              (SELECT count(*) FROM events)::int AS events`,
    )
  ).rows[0] as { organisations: number; users: number; events: number };
  const millions = counts.events / 1e6;
  log(
    `seeded ${counts.organisations} organisations, ${counts.users} users, ${counts.events} events in ${round(seeding.seconds, 1)} s`,
  );

  // Baseline: PostgreSQL computing the same figures in one pass, warm (the second of two runs).
  const sqlBaseline = async () =>
    database!.query(
      `SELECT organisation_id, count(*) AS events,
              sum(amount_cents) FILTER (WHERE type = 'purchase') - coalesce(sum(amount_cents) FILTER (WHERE type = 'refund'), 0) AS revenue,
              count(*) FILTER (WHERE type = 'login') AS logins, count(*) FILTER (WHERE type = 'page_view') AS page_views,
              count(*) FILTER (WHERE type = 'feature_used') AS features, count(*) FILTER (WHERE type = 'purchase') AS purchases,
              count(*) FILTER (WHERE type = 'refund') AS refunds,
              count(DISTINCT user_id) AS users_seen,
              count(DISTINCT user_id) FILTER (WHERE occurred_at >= now() - interval '30 days') AS active_users,
              min(occurred_at) AS first_event, max(occurred_at) AS last_event
         FROM events GROUP BY organisation_id`,
    );
  await sqlBaseline();
  const baseline = await timed(sqlBaseline);
  log(`SQL baseline: ${round(baseline.seconds)} s`);

  // Account analysis: a whole run, with one worker and then two.
  const analysisRows: Record<string, string | number>[] = [];
  const analysisSummary: Record<string, number> = {};
  for (const workers of [1, 2]) {
    await run('php artisan accounts:analyse --trigger=manual', workspace);
    const runId = (await database.query('SELECT max(id)::int AS id FROM analysis_runs')).rows[0].id as number;
    const started = performance.now();
    for (let i = 0; i < workers; i++) {
      children.push(start('php artisan queue:work --queue=default,analysis --sleep=1 --tries=3', workspace));
    }
    let finished: { duration_seconds: number; events_total: string } | undefined;
    while (!finished) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      finished = (
        await database.query(
          'SELECT duration_seconds, events_total FROM analysis_runs WHERE id = $1 AND finished_at IS NOT NULL',
          [runId],
        )
      ).rows[0];
      if (performance.now() - started > 30 * 60_000)
        throw new Error(`analysis run ${runId} did not finish within 30 minutes`);
    }
    const jobs = (
      await database.query(
        `SELECT sum(duration_seconds) AS busy, max(peak_memory_bytes)::bigint AS peak, max(events_count) AS largest, sum(chunks)::int AS chunks
           FROM account_analyses WHERE analysis_run_id = $1`,
        [runId],
      )
    ).rows[0] as { busy: number; peak: string; largest: string; chunks: number };
    for (const child of children.splice(0)) await stop(child);
    const wall = finished.duration_seconds;
    analysisRows.push({
      measure: `analysis run, ${workers} worker${workers > 1 ? 's' : ''}`,
      seconds: round(wall),
      's per M events': round(wall / millions),
      'M events/s': round(millions / wall, 3),
      'x SQL floor': round(wall / baseline.seconds, 1),
      'busy s per M': round(jobs.busy / millions),
      'peak MiB': round(Number(jobs.peak) / 2 ** 20, 1),
    });
    analysisSummary[`run${workers}WorkerSeconds`] = round(wall);
    analysisSummary[`run${workers}WorkerSecondsPerMillionEvents`] = round(wall / millions);
    analysisSummary[`analysisBusySecondsPerMillionEvents${workers}Worker`] = round(jobs.busy / millions);
    analysisSummary.peakAnalysisMemoryMiB = round(Number(jobs.peak) / 2 ** 20, 1);
    log(`analysis with ${workers} worker(s): ${round(wall)} s for ${finished.events_total} events`);
  }
  analysisRows.push({
    measure: 'baseline: one SQL GROUP BY',
    seconds: round(baseline.seconds),
    's per M events': round(baseline.seconds / millions),
    'M events/s': round(millions / baseline.seconds, 3),
    'x SQL floor': 1,
    'busy s per M': round(baseline.seconds / millions),
    'peak MiB': '-',
  });

  // The web process.
  const web = start('bin/web', workspace, {
    PORT: String(port),
    HOST: '127.0.0.1',
    RUN_DIR: join(workspace, 'run', 'web'),
  });
  children.push(web);
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    const up = await fetch(`${url}/up`).then(
      (response) => response.status,
      () => 0,
    );
    if (up === 200) break;
    if (attempt > 100) throw new Error('the web process did not answer /up within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const manifest = JSON.parse(
    await readFile(join(workspace, 'public', 'build', 'manifest.json'), 'utf8'),
  ) as Record<string, string>;
  const load = async (path: string, duration = DURATION_S) => {
    const probe = await fetch(`${url}${path}`);
    await probe.arrayBuffer();
    log(`GET ${path}: ${probe.status}`);
    if (probe.status !== 200) throw new Error(`GET ${path} answered ${probe.status}, not 200`);
    const result = await autocannon({ url: `${url}${path}`, connections: CONNECTIONS, duration });
    return {
      path,
      'req/s': Math.round(result.requests.average),
      'p50 ms': result.latency.p50,
      'p99 ms': result.latency.p99,
      'max ms': result.latency.max,
      errors: result.errors + result.non2xx,
      total: result.requests.total,
    };
  };
  await load('/api/organisations', 3); // warm-up: opcache, connections, PostgreSQL caches
  const organisations = await load('/api/organisations');
  const up = await load('/up');
  const asset = await load(`/build/${manifest['app.js']}`);
  const webRows = [organisations, up, asset];

  printTable(
    `reference-app: account analysis over ${counts.events} events (${counts.organisations} organisations)`,
    analysisRows,
  );
  report(
    `reference-app: web process (php-fpm behind HAProxy), ${CONNECTIONS} connections, ${DURATION_S} s each`,
    webRows,
    {
      organisations: counts.organisations,
      users: counts.users,
      events: counts.events,
      seedSeconds: round(seeding.seconds, 1),
      sqlBaselineSeconds: round(baseline.seconds),
      ...analysisSummary,
      organisationsReqPerSec: organisations['req/s'],
      organisationsP50Ms: organisations['p50 ms'],
      organisationsP99Ms: organisations['p99 ms'],
      upReqPerSec: up['req/s'],
      cachedAssetReqPerSec: asset['req/s'],
      organisationsVsUp: round(organisations['req/s'] / up['req/s']),
      webErrors: webRows.reduce((sum, row) => sum + row.errors, 0),
      // Other work on the machine skews every figure: 1-minute load averages (2 cores here).
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: round(loadavg()[0]!),
    },
  );
} finally {
  for (const child of children) await stop(child);
  await database?.end();
  await postgres.stop();
  await rm(workspace, { recursive: true, force: true });
}
