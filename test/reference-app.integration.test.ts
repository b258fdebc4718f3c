/**
 * The reference application (examples/laravel-app) built, migrated, seeded and run the way its
 * slipway.yaml says, against a real PostgreSQL 15 cluster, with the real `web` process (php-fpm
 * behind HAProxy) and a real queue worker on 127.0.0.1. Its .deb's maintainer scripts run under
 * dpkg in a sandbox with private copies of /etc, /opt and the dpkg database.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmod,
  chown,
  copyFile,
  cp,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { freePort, startPostgres, type TestPostgres } from '../src/store/testing.ts';

const APP_SOURCE = fileURLToPath(new URL('../examples/laravel-app', import.meta.url));
const BUILD_VERSION = '1.0.0~b1+gtest';
const SEED_SCALE = '0.005'; // 5 organisations, 250 users, 10,000 events

const execFileAsync = promisify(execFile);

// The parts of slipway.yaml this test relies on; the Pipelines issue owns the full schema.
const Command = z.object({ run: z.string().min(1), timeout: z.string().optional() });
const SlipwayFile = z.object({
  app: z.string(),
  version: z.string(),
  build: z.object({ steps: z.array(Command.extend({ name: z.string() })).min(1) }),
  test: Command,
  package: z.object({
    name: z.string(),
    description: z.string(),
    maintainer: z.string(),
    section: z.string(),
    priority: z.string(),
    architecture: z.string(),
    user: z.string(),
    depends: z.array(z.string()),
    recommends: z.array(z.string()).default([]),
    files: z.array(z.object({ from: z.string(), to: z.string(), exclude: z.array(z.string()).default([]) })),
    conffiles: z.array(z.string()),
    scripts: z.object({ preinst: z.string(), postinst: z.string(), prerm: z.string(), postrm: z.string() }),
  }),
  processes: z.record(
    z.string(),
    z.object({
      command: z.string(),
      http: z.boolean().default(false),
      stop_signal: z.string(),
      stop_timeout: z.string(),
    }),
  ),
  hooks: z.object({
    predeploy: z.array(Command.extend({ run_on: z.enum(['one_host', 'every_host']) })),
  }),
  regression: Command.extend({ env: z.array(z.string()) }),
  health_check: z.object({ path: z.string(), expect_status: z.number() }),
});
type SlipwayFile = z.infer<typeof SlipwayFile>;

interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment app processes start from: nothing of the test runner's own leaks into the app's configuration. */
const BASE_ENVIRONMENT: NodeJS.ProcessEnv = {
  PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
  HOME: process.env.HOME ?? '/root',
  LANG: 'C.UTF-8',
};

/** Runs a shell command the way Slipway runs a step, and returns its output whatever the exit code. */
function sh(
  command: string,
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], {
      cwd: options.cwd,
      env: { ...BASE_ENVIRONMENT, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function mustRun(
  command: string,
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
) {
  const result = await sh(command, options);
  if (result.code !== 0) {
    throw new Error(`"${command}" exited with ${result.code}:\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

/** A long-running process of the app, started like Slipway's agent starts a process type. */
class AppProcess {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(command: string, options: { cwd: string; env: NodeJS.ProcessEnv }) {
    this.child = spawn('sh', ['-c', `exec ${command}`], {
      cwd: options.cwd,
      env: { ...BASE_ENVIRONMENT, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-200_000);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 30_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

async function eventually<T>(
  check: () => Promise<T | undefined>,
  what: string | (() => string),
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(
    `Timed out after ${timeoutMs} ms waiting until ${typeof what === 'string' ? what : what()}`,
    {
      cause: lastError,
    },
  );
}

/** Whether a process runs: a zombie (exited, not yet reaped by whoever inherited it) does not. */
async function isAlive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** One sample's value from a Prometheus text exposition, or undefined when absent. */
function metric(text: string, name: string, labels = ''): number | undefined {
  const escaped = `${name}${labels}`.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}

/** Files a checkout of the app holds: tracked plus untracked-but-not-ignored, as git sees them. */
async function checkoutFiles(): Promise<string[]> {
  const { stdout } = await execFileAsync(
    'git',
    ['ls-files', '--cached', '--others', '--exclude-standard', '-z'],
    {
      cwd: APP_SOURCE,
    },
  );
  return stdout.split('\0').filter((path) => path !== '');
}

/** gitignore-like: "*" stays within a path segment; a match covers everything below it. */
function isExcluded(relativePath: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => {
    const source = pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^/]*');
    return new RegExp(`^${source}(/.*)?$`).test(relativePath);
  });
}

/** Builds the .deb from slipway.yaml's package section, the way the Pipelines issue's packager will. */
async function buildDeb(
  workspace: string,
  spec: SlipwayFile['package'],
  version: string,
  outDir: string,
): Promise<string> {
  const stage = await mkdtemp(join(tmpdir(), 'laravel-app-deb-'));
  try {
    for (const entry of spec.files) {
      const from = join(workspace, entry.from);
      const to = join(stage, entry.to);
      if ((await stat(from)).isDirectory()) {
        await cp(from, to, {
          recursive: true,
          filter: (source) => {
            const relative = source.slice(from.length + 1);
            return relative === '' || !isExcluded(relative, entry.exclude);
          },
        });
      } else {
        await mkdir(dirname(to), { recursive: true });
        await copyFile(from, to);
      }
    }
    const control = join(stage, 'DEBIAN');
    await mkdir(control, { recursive: true });
    await writeFile(
      join(control, 'control'),
      [
        `Package: ${spec.name}`,
        `Version: ${version}`,
        `Architecture: ${spec.architecture}`,
        `Maintainer: ${spec.maintainer}`,
        `Section: ${spec.section}`,
        `Priority: ${spec.priority}`,
        `Depends: ${spec.depends.join(', ')}`,
        ...(spec.recommends.length > 0 ? [`Recommends: ${spec.recommends.join(', ')}`] : []),
        `Description: ${spec.description}`,
        '',
      ].join('\n'),
    );
    await writeFile(join(control, 'conffiles'), `${spec.conffiles.join('\n')}\n`);
    for (const [name, path] of Object.entries(spec.scripts)) {
      await copyFile(join(workspace, path), join(control, name));
      await chmod(join(control, name), 0o755);
    }
    const deb = join(outDir, `${spec.name}_${version}_${spec.architecture}.deb`);
    await execFileAsync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', stage, deb]);
    return deb;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/**
 * A host for dpkg: a writable root of its own (private copies of /etc and the dpkg database, an
 * empty /opt) with the machine's /usr read-only, run under bubblewrap. Maintainer scripts run
 * unchanged, as on a VM; the machine's own users and packages are untouched.
 */
class SandboxHost {
  private constructor(readonly root: string) {}

  static async create(): Promise<SandboxHost> {
    const root = await mkdtemp(join(tmpdir(), 'laravel-app-host-'));
    await chmod(root, 0o755); // it becomes "/": every user passes through it
    await execFileAsync('cp', ['-a', '/etc', join(root, 'etc')]);
    await mkdir(join(root, 'var', 'lib'), { recursive: true });
    await execFileAsync('cp', ['-a', '/var/lib/dpkg', join(root, 'var', 'lib', 'dpkg')]);
    for (const directory of ['opt', 'usr', 'var/log', 'var/tmp', 'tmp', 'run', 'root', 'packages']) {
      await mkdir(join(root, directory), { recursive: true });
    }
    for (const link of ['bin', 'sbin', 'lib', 'lib64']) {
      await symlink(`usr/${link}`, join(root, link));
    }
    return new SandboxHost(root);
  }

  run(args: readonly string[]): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      execFile(
        'bwrap',
        [
          '--bind',
          this.root,
          '/',
          '--ro-bind',
          '/usr',
          '/usr',
          '--dev',
          '/dev',
          '--proc',
          '/proc',
          '--tmpfs',
          '/tmp',
          '--unshare-pid',
          '--die-with-parent',
          '--',
          ...args,
        ],
        { timeout: 120_000 },
        (error, stdout, stderr) => {
          if (error && typeof error.code !== 'number') reject(error);
          else resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
        },
      );
    });
  }

  async mustRun(args: readonly string[]): Promise<RunResult> {
    const result = await this.run(args);
    if (result.code !== 0)
      throw new Error(`${args.join(' ')} exited with ${result.code}:\n${result.stdout}\n${result.stderr}`);
    return result;
  }

  path(path: string): string {
    return join(this.root, path);
  }

  async passwdEntry(user: string): Promise<string[] | undefined> {
    const passwd = await readFile(this.path('etc/passwd'), 'utf8');
    return passwd
      .split('\n')
      .map((line) => line.split(':'))
      .find((fields) => fields[0] === user);
  }

  async remove(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

describe('the reference application (examples/laravel-app)', () => {
  let spec: SlipwayFile;
  let postgres: TestPostgres;
  let database: pg.Client;
  let workspace: string;
  let runRoot: string;
  let environment: NodeJS.ProcessEnv;
  let web: AppProcess;
  let worker: AppProcess;
  let baseUrl: string;
  const cleanups: Array<() => Promise<unknown>> = [];

  async function http(
    path: string,
    init: RequestInit = {},
  ): Promise<{ status: number; headers: Headers; body: string; json: any }> {
    const response = await fetch(`${baseUrl}${path}`, {
      ...init,
      headers: {
        accept: 'application/json',
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...init.headers,
      },
    });
    const body = await response.text();
    const isJson = response.headers.get('content-type')?.includes('json') ?? false;
    return {
      status: response.status,
      headers: response.headers,
      body,
      json: isJson ? JSON.parse(body) : undefined,
    };
  }

  function artisan(args: string, env: NodeJS.ProcessEnv = {}) {
    return mustRun(`php artisan ${args}`, { cwd: workspace, env: { ...environment, ...env } });
  }

  beforeAll(async () => {
    spec = SlipwayFile.parse(parseYaml(await readFile(join(APP_SOURCE, 'slipway.yaml'), 'utf8')));

    // A database and an owner role of its own, as in production (not the superuser).
    postgres = await startPostgres();
    cleanups.push(() => postgres.stop());
    const appPassword = randomBytes(18).toString('base64url');
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query(`CREATE ROLE laravel_app LOGIN PASSWORD '${appPassword}'`);
    await admin.query('CREATE DATABASE laravel_app OWNER laravel_app');
    await admin.end();
    database = new pg.Client({
      host: postgres.host,
      port: postgres.port,
      user: 'laravel_app',
      password: appPassword,
      database: 'laravel_app',
    });
    await database.connect();
    cleanups.push(() => database.end());

    // A checkout of the app in a fresh workspace; php-fpm's workers (www-data) must read it.
    workspace = await mkdtemp(join(tmpdir(), 'laravel-app-'));
    cleanups.push(() => rm(workspace, { recursive: true, force: true }));
    await chmod(workspace, 0o755);
    // Run directories of the web instances (sockets, pid files), outside the build.
    runRoot = await mkdtemp(join(tmpdir(), 'laravel-app-run-'));
    cleanups.push(() => rm(runRoot, { recursive: true, force: true }));
    for (const file of await checkoutFiles()) {
      await mkdir(dirname(join(workspace, file)), { recursive: true });
      await cp(join(APP_SOURCE, file), join(workspace, file), { preserveTimestamps: true });
    }

    // The build steps and the unit-test step, as the pipeline runs them.
    for (const step of spec.build.steps) {
      await mustRun(step.run, {
        cwd: workspace,
        env: { SLIPWAY_VERSION: BUILD_VERSION },
        timeoutMs: 120_000,
      });
    }

    // The .env Slipway renders at deploy time: secrets readable by root and the workers only.
    baseUrl = `http://127.0.0.1:${await freePort()}`;
    const dotenv = [
      'APP_NAME="Laravel reference app"',
      'APP_ENV=integration',
      `APP_KEY=base64:${randomBytes(32).toString('base64')}`,
      `APP_URL=${baseUrl}`,
      `DB_HOST=${postgres.host}`,
      `DB_PORT=${postgres.port}`,
      'DB_DATABASE=laravel_app',
      'DB_USERNAME=laravel_app',
      `DB_PASSWORD=${appPassword}`,
      'QUEUE_CONNECTION=database',
      'CACHE_DRIVER=database',
      'LOG_CHANNEL=stderr',
      'MAIL_MAILER=log',
      'MAIL_LOG_CHANNEL=null',
    ];
    await writeFile(join(workspace, '.env'), `${dotenv.join('\n')}\n`, { mode: 0o640 });
    await chown(join(workspace, '.env'), 0, (await wwwDataGid()) ?? 0);
    environment = {};

    // Release hooks, in order, then a small data set.
    for (const hook of spec.hooks.predeploy) {
      await mustRun(hook.run, { cwd: workspace, env: environment });
    }
    await artisan('db:seed --force', { SEED_SCALE });

    // The web and worker process types, started from their commands in slipway.yaml.
    const port = new URL(baseUrl).port;
    web = new AppProcess(spec.processes.web!.command, {
      cwd: workspace,
      env: {
        ...environment,
        PORT: port,
        HOST: '127.0.0.1',
        RUN_DIR: join(runRoot, 'web-1'),
        WEB_CONCURRENCY: '4',
        APP_INSTANCE: 'web-1',
      },
    });
    cleanups.push(() => web.stop());
    worker = new AppProcess(spec.processes.worker!.command, { cwd: workspace, env: environment });
    cleanups.push(() => worker.stop());
    await eventually(
      async () =>
        (await http(spec.health_check.path)).status === spec.health_check.expect_status ? true : undefined,
      () => `the web process answers ${spec.health_check.path} (its output:\n${web.output})`,
      20_000,
    );
  }, 180_000);

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => console.error('cleanup failed:', error));
    }
  }, 60_000);

  test('keeps slipway.yaml and the Procfile in step', async () => {
    const procfile = (await readFile(join(APP_SOURCE, 'Procfile'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]);

    expect(Object.fromEntries(procfile)).toStrictEqual(
      Object.fromEntries(Object.entries(spec.processes).map(([name, process]) => [name, process.command])),
    );
    expect(Object.keys(spec.processes)).toStrictEqual(['web', 'worker', 'scheduler']);
    expect(spec.hooks.predeploy.map((hook) => hook.run)).toStrictEqual([
      'php artisan migrate --force',
      'php artisan config:cache',
      'php artisan queue:restart',
    ]);
  });

  test('passes its PHPUnit unit suite (the unit-test step)', async () => {
    const result = await sh(spec.test.run, { cwd: workspace });

    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/OK \(\d+ tests, \d+ assertions\)/);
  });

  test('answers /up with 200 and the deployed version, in the body and a header', async () => {
    const response = await http('/up');

    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({
      status: 'ok',
      version: BUILD_VERSION,
      instance: 'web-1',
      checks: { database: { status: 'ok' } },
    });
    expect(response.headers.get('x-app-version')).toBe(BUILD_VERSION);
    expect(response.headers.get('x-app-instance')).toBe('web-1');
  });

  test('serves the built AngularJS admin UI and its assets', async () => {
    const page = await fetch(`${baseUrl}/`);
    const html = await page.text();
    const script = /<script src="(\/build\/app\.[0-9a-f]{16}\.js)"/.exec(html)?.[1];

    expect(page.status).toBe(200);
    expect(html).toContain('ng-app="adminApp"');
    expect(script).toBeDefined();
    const asset = await fetch(`${baseUrl}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('x-app-version')).toBe(BUILD_VERSION);
    expect(await asset.text()).toContain("module('adminApp'");
  });

  test('runs the AngularJS admin UI in a browser under its Content-Security-Policy', async () => {
    const profile = await mkdtemp(join(tmpdir(), 'laravel-app-chromium-'));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
      });
      page.on('pageerror', (error) => problems.push(String(error)));

      await page.goto(`${baseUrl}/`);
      await page.locator('main table tbody tr').first().waitFor();
      const organisations = await http('/api/organisations?per_page=100');
      expect(await page.locator('main table tbody tr').count()).toBe(organisations.json.meta.total);
      await expect
        .poll(async () => (await page.locator('.version').textContent())?.trim())
        .toBe(`v${BUILD_VERSION}`);

      await page.locator('main table tbody tr a').first().click();
      await page.locator('main h3', { hasText: 'Users' }).waitFor();
      const first = organisations.json.data[0];
      expect(await page.locator('main h2').textContent()).toContain(first.name);
      await expect.poll(() => page.locator('main table tbody tr').count()).toBe(first.users_count);
      expect(problems).toStrictEqual([]);
    } finally {
      await browser.close();
      await rm(profile, { recursive: true, force: true });
    }
  });

  test('creates and lists records through the API, and answers invalid input with JSON 422', async () => {
    const seeded = await http('/api/organisations?per_page=100');
    expect(seeded.status).toBe(200);
    expect(seeded.json.meta.total).toBe(5);
    expect(
      seeded.json.data.every((organisation: { users_count: number }) => organisation.users_count === 50),
    ).toBe(true);

    const created = await http('/api/organisations', {
      method: 'POST',
      body: JSON.stringify({ name: 'Initech Integration', plan: 'business' }),
    });
    expect(created.status).toBe(201);
    expect(created.json.data).toMatchObject({
      name: 'Initech Integration',
      slug: 'initech-integration',
      plan: 'business',
      users_count: 0,
    });

    const listed = await http('/api/organisations?search=Initech%20Integration');
    expect(listed.json.data.map((organisation: { id: number }) => organisation.id)).toStrictEqual([
      created.json.data.id,
    ]);
    const row = await database.query('SELECT name, plan FROM organisations WHERE id = $1', [
      created.json.data.id,
    ]);
    expect(row.rows).toStrictEqual([{ name: 'Initech Integration', plan: 'business' }]);

    const before = await database.query('SELECT count(*)::int AS n FROM organisations');
    const invalid = await http('/api/organisations', {
      method: 'POST',
      body: JSON.stringify({ plan: 'platinum' }),
      headers: { accept: 'text/html' },
    });
    expect(invalid.status).toBe(422);
    expect(invalid.headers.get('content-type')).toBe('application/json');
    expect(invalid.json.errors).toStrictEqual({
      name: ['The name field is required.'],
      plan: ['The selected plan is invalid: use one of free, team, business, enterprise.'],
    });
    const after = await database.query('SELECT count(*)::int AS n FROM organisations');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  test('has the worker process a queued job (the welcome email of a new user)', async () => {
    const organisation = (await http('/api/organisations?per_page=1')).json.data[0];
    const created = await http(`/api/organisations/${organisation.id}/users`, {
      method: 'POST',
      body: JSON.stringify({ name: 'Radia Perlman', email: 'radia@example.org' }),
    });
    expect(created.status).toBe(201);
    expect(created.json.data.welcome_sent_at).toBeNull();

    const sentAt = await eventually(async () => {
      const user = await http(`/api/users/${created.json.data.id}`);
      return user.json.data.welcome_sent_at ?? undefined;
    }, 'the worker has sent the welcome email');
    expect(Number.isNaN(Date.parse(sentAt))).toBe(false);
    // The worker deletes the job, then counts it (JobProcessed), a moment after the handler's own
    // write is visible.
    await eventually(async () => {
      const jobs = await database.query("SELECT count(*)::int AS n FROM jobs WHERE queue = 'default'");
      return jobs.rows[0].n === 0 || undefined;
    }, 'the worker has removed the finished job');
    const processed = await eventually(async () => {
      const metrics = (await http('/metrics')).body;
      return metric(metrics, 'app_jobs_processed_total', '{job="SendWelcomeEmail"}') || undefined;
    }, 'the worker has counted the job');
    expect(processed).toBe(1);
  });

  test('runs a scheduled account analysis over every organisation and reports its duration in /metrics', async () => {
    // What the scheduler process does every minute.
    const scheduled = await artisan('schedule:run');
    expect(scheduled.stdout).toContain('Running scheduled command: account-analysis');

    const run = await eventually(
      async () => {
        const result = await database.query(
          'SELECT * FROM analysis_runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1',
        );
        return result.rows[0];
      },
      'the analysis run has finished',
      60_000,
    );
    const counts = await database.query(
      'SELECT (SELECT count(*)::int FROM organisations) AS organisations, (SELECT count(*)::int FROM events) AS events',
    );
    expect(run.trigger).toBe('schedule');
    expect(run.organisations_total).toBe(counts.rows[0].organisations);
    expect(run.organisations_done).toBe(counts.rows[0].organisations);
    expect(run.organisations_failed).toBe(0);
    expect(Number(run.events_total)).toBe(counts.rows[0].events);
    const totals = await database.query(
      'SELECT sum(events_count)::int AS events, sum(revenue_cents)::bigint AS revenue FROM account_analyses WHERE analysis_run_id = $1',
      [run.id],
    );
    const expectedRevenue = await database.query(
      "SELECT (sum(amount_cents) FILTER (WHERE type = 'purchase') - sum(amount_cents) FILTER (WHERE type = 'refund'))::bigint AS revenue FROM events",
    );
    expect(totals.rows[0]).toStrictEqual({
      events: counts.rows[0].events,
      revenue: expectedRevenue.rows[0].revenue,
    });

    const response = await http('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(metric(response.body, 'app_account_analysis_run_last_duration_seconds')).toBeCloseTo(
      run.duration_seconds,
      6,
    );
    expect(metric(response.body, 'app_account_analysis_run_duration_seconds_count')).toBe(1);
    expect(metric(response.body, 'app_account_analysis_run_duration_seconds_bucket', '{le="+Inf"}')).toBe(1);
    expect(metric(response.body, 'app_account_analysis_duration_seconds_count')).toBe(
      run.organisations_total,
    );
    expect(metric(response.body, 'app_account_analysis_run_last_events')).toBe(counts.rows[0].events);
    expect(metric(response.body, 'app_organisations')).toBe(counts.rows[0].organisations);
    expect(response.body).toContain('# TYPE app_account_analysis_duration_seconds histogram');
  });

  test('passes its regression suite over HTTP against the running web process', async () => {
    const result = await sh(spec.regression.run, {
      cwd: workspace,
      env: { APP_URL: baseUrl },
      timeoutMs: 120_000,
    });

    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/OK \(\d+ tests, \d+ assertions\)/);
  }, 120_000);

  test('lets a worker finish the job in hand when it gets SIGTERM', async () => {
    // given a worker busy with a deliberately long job
    const probeId = Number((await artisan('queue:probe 5')).stdout.trim().split('\n').at(-1));
    await eventually(async () => {
      const probe = await database.query('SELECT status FROM queue_probes WHERE id = $1', [probeId]);
      return probe.rows[0]?.status === 'running' ? true : undefined;
    }, 'the worker has started the probe job');

    // when it is told to stop
    const signalledAt = Date.now();
    worker.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const aliveAfterOneSecond = worker.running;
    const exit = await worker.exited;
    const exitedAt = Date.now();

    // then the job ran to its end before the worker exited, cleanly
    const probe = (
      await database.query('SELECT status, started_at, finished_at FROM queue_probes WHERE id = $1', [
        probeId,
      ])
    ).rows[0];
    expect(aliveAfterOneSecond).toBe(true);
    expect(exit).toStrictEqual({ code: 0, signal: null });
    expect(probe.status).toBe('finished');
    expect(probe.finished_at.getTime() - probe.started_at.getTime()).toBeGreaterThanOrEqual(5000);
    expect(probe.finished_at.getTime()).toBeGreaterThan(signalledAt);
    expect(exitedAt).toBeGreaterThanOrEqual(probe.finished_at.getTime());
    const left = await database.query('SELECT count(*)::int AS n FROM jobs');
    expect(left.rows[0].n).toBe(0);
  }, 30_000);

  test('runs a second web instance side by side, and leaves nothing running when it is killed outright', async () => {
    // given a second instance of the same release on another port, with its own run directory
    const secondUrl = `http://127.0.0.1:${await freePort()}`;
    const second = new AppProcess(spec.processes.web!.command, {
      cwd: workspace,
      env: {
        PORT: new URL(secondUrl).port,
        HOST: '127.0.0.1',
        RUN_DIR: join(runRoot, 'web-2'),
        WEB_CONCURRENCY: '2',
        APP_INSTANCE: 'web-2',
      },
    });
    cleanups.push(() => second.stop());
    await eventually(
      async () => ((await fetch(`${secondUrl}/up`)).status === 200 ? true : undefined),
      () => `the second instance answers /up (its output:\n${second.output})`,
      20_000,
    );
    const [first, other] = await Promise.all([http('/up'), fetch(`${secondUrl}/up`)]);
    expect(first.headers.get('x-app-instance')).toBe('web-1');
    expect(other.headers.get('x-app-instance')).toBe('web-2');
    expect(((await other.json()) as { instance: string }).instance).toBe('web-2');
    const pids = /HAProxy pid (\d+), php-fpm pid (\d+)/.exec(second.output);
    expect(pids).not.toBeNull();

    // when it is killed with no chance to stop its children
    second.child.kill('SIGKILL');
    await second.exited;

    // then its guardian stops HAProxy and php-fpm, the port is free, and the first instance still serves
    await eventually(
      async () =>
        !(await isAlive(Number(pids![1]))) && !(await isAlive(Number(pids![2]))) ? true : undefined,
      'HAProxy and php-fpm of the killed instance have stopped',
      15_000,
    );
    await expect(fetch(`${secondUrl}/up`)).rejects.toThrow();
    expect((await http('/up')).status).toBe(200);
  }, 40_000);

  test('stops the web process on SIGTERM, HAProxy and php-fpm included, freeing the port', async () => {
    const pids = /HAProxy pid (\d+), php-fpm pid (\d+)/.exec(web.output);
    expect(pids).not.toBeNull();
    const [haproxy, fpm] = [Number(pids![1]), Number(pids![2])];
    expect((await isAlive(haproxy)) && (await isAlive(fpm))).toBe(true);

    web.child.kill('SIGTERM');
    const exit = await web.exited;

    expect(exit).toStrictEqual({ code: 0, signal: null });
    expect((await isAlive(haproxy)) || (await isAlive(fpm))).toBe(false);
    await expect(fetch(`${baseUrl}/up`)).rejects.toThrow();
    expect(web.output).toContain('stopped');
  }, 40_000);

  describe('its .deb, installed with dpkg on a sandboxed host', () => {
    let host: SandboxHost;
    const user = () => spec.package.user;

    beforeAll(async () => {
      host = await SandboxHost.create();
    }, 60_000);

    afterAll(async () => {
      await host?.remove();
    });

    test('installs, upgrades, removes and purges with its maintainer scripts', async () => {
      // install: the user, the writable directories, the conffile
      const first = await buildDeb(workspace, spec.package, BUILD_VERSION, host.path('packages'));
      const info = await execFileAsync('dpkg-deb', ['--info', first]);
      for (const script of ['preinst', 'postinst', 'prerm', 'postrm']) {
        expect(info.stdout).toMatch(new RegExp(`\\*\\s+${script}\\s+#!/bin/sh`));
      }
      expect(info.stdout).toMatch(/\s+conffiles\s/);
      expect(info.stdout).toContain(`Depends: ${spec.package.depends.join(', ')}`);
      await host.mustRun(['dpkg', '-i', `/packages/${first.split('/').at(-1)}`]);

      const entry = await host.passwdEntry(user());
      expect(entry?.[5]).toBe('/opt/laravel-app');
      expect(entry?.[6]).toBe('/usr/sbin/nologin');
      expect(Number(entry?.[2])).toBeLessThan(1000);
      expect(await readFile('/etc/passwd', 'utf8')).not.toMatch(new RegExp(`^${user()}:`, 'm'));
      for (const directory of ['storage', 'storage/framework/views', 'storage/run', 'bootstrap/cache']) {
        const info = await stat(host.path(`opt/laravel-app/${directory}`));
        expect([directory, info.uid]).toStrictEqual([directory, Number(entry?.[2])]);
      }
      expect((await readFile(host.path('opt/laravel-app/VERSION'), 'utf8')).trim()).toBe(BUILD_VERSION);
      await expect(stat(host.path('opt/laravel-app/node_modules'))).rejects.toThrow();
      await expect(stat(host.path('opt/laravel-app/public/build/index.html'))).resolves.toBeDefined();
      const artisanVersion = await host.mustRun([
        'runuser',
        '-u',
        user(),
        '--',
        'php',
        '/opt/laravel-app/artisan',
        '--version',
      ]);
      expect(artisanVersion.stdout).toContain('Laravel Framework 8.83');

      // upgrade: the same user, stale caches dropped, the locally edited conffile kept
      await writeFile(host.path('opt/laravel-app/bootstrap/cache/config.php'), '<?php return [];\n');
      await writeFile(host.path('etc/laravel-app/fpm.ini'), 'memory_limit = 512M\n');
      await writeFile(join(workspace, 'VERSION'), '1.0.0~b2+gtest\n');
      const second = await buildDeb(workspace, spec.package, '1.0.0~b2+gtest', host.path('packages'));
      await host.mustRun(['dpkg', '-i', `/packages/${second.split('/').at(-1)}`]);
      expect(await host.passwdEntry(user())).toStrictEqual(entry);
      expect((await readFile(host.path('opt/laravel-app/VERSION'), 'utf8')).trim()).toBe('1.0.0~b2+gtest');
      await expect(stat(host.path('opt/laravel-app/bootstrap/cache/config.php'))).rejects.toThrow();
      expect(await readFile(host.path('etc/laravel-app/fpm.ini'), 'utf8')).toBe('memory_limit = 512M\n');
      const status = await host.mustRun(['dpkg-query', '--status', spec.package.name]);
      expect(status.stdout).toContain('Status: install ok installed\n');
      expect(status.stdout).toContain('Version: 1.0.0~b2+gtest\n');

      // remove: code gone, data and configuration kept
      await writeFile(host.path('opt/laravel-app/storage/app/upload.txt'), 'kept until purge\n');
      await host.mustRun(['dpkg', '-r', spec.package.name]);
      await expect(stat(host.path('opt/laravel-app/artisan'))).rejects.toThrow();
      await expect(stat(host.path('opt/laravel-app/storage/app/upload.txt'))).resolves.toBeDefined();
      await expect(stat(host.path('etc/laravel-app/fpm.ini'))).resolves.toBeDefined();

      // purge: nothing left
      await host.mustRun(['dpkg', '-P', spec.package.name]);
      await expect(stat(host.path('opt/laravel-app'))).rejects.toThrow();
      await expect(stat(host.path('etc/laravel-app'))).rejects.toThrow();
    }, 120_000);
  });
});

async function wwwDataGid(): Promise<number | undefined> {
  const group = await readFile('/etc/group', 'utf8');
  const line = group.split('\n').find((entry) => entry.startsWith('www-data:'));
  return line ? Number(line.split(':')[2]) : undefined;
}
