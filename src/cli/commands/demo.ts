import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { randomToken, SlipwayError } from '../../core/index.ts';
import { generateRootKey } from '../../secrets/index.ts';
import { loadServerConfig, type RunningServer, startServer } from '../../server/index.ts';
import { ApiClient } from '../api-client.ts';
import { type DeliveryFlow, deliveryFlow, type FlowStep } from './demo-flow.ts';
import { announceAdminPassword, stopOnSignals } from './server.ts';

interface DemoOptions {
  readonly check?: boolean;
  readonly dataDir?: string;
  readonly port?: string;
  readonly keep?: boolean;
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', () => done(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => done(true)));
  });
}

/** The demo administrator's password: kept in the data directory so every demo start can show it. */
async function demoAdminPassword(dataDir: string): Promise<string> {
  await mkdir(dataDir, { recursive: true, mode: 0o711 });
  const path = join(dataDir, 'demo-admin-password');
  const existing = (await readFile(path, 'utf8').catch(() => '')).trim();
  if (existing) return existing;
  const password = `demo-${randomToken(12)}`;
  await writeFile(path, `${password}\n`, { mode: 0o600 });
  return password;
}

/**
 * The demo's root key for the secrets store: a 0600 file in its data directory, made on first use,
 * so the demo starts unsealed. (A real installation keeps its root key away from its data.)
 */
async function demoRootKeyFile(dataDir: string): Promise<string> {
  const path = join(dataDir, 'demo-root-key');
  if (!(await readFile(path, 'utf8').catch(() => '')))
    await writeFile(path, `${generateRootKey()}\n`, { mode: 0o600 });
  return path;
}

/** One verified stage of `slipway demo`: its name, and what it does (a note on success; throws on failure). */
type Step = FlowStep;

/** Runs the steps in order, each on its own lines; stops at the first failure. */
async function runSteps(steps: readonly Step[]): Promise<boolean> {
  for (const [index, [name, run]] of steps.entries()) {
    const started = performance.now();
    process.stdout.write(`[${index + 1}/${steps.length}] ${name}\n`);
    try {
      const note = await run();
      process.stdout.write(
        `      ok (${Math.round(performance.now() - started)} ms)${note ? ` — ${note}` : ''}\n`,
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      process.stdout.write(`      FAILED: ${message}\n`);
      if (error instanceof SlipwayError && error.hint) process.stdout.write(`      ${error.hint}\n`);
      return false;
    }
  }
  return true;
}

const progress = (line: string) => process.stdout.write(`${line}\n`);

function expect(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

/** The unattended demo: start, exercise every part, restart, verify, stop. */
async function checkDemo(options: DemoOptions): Promise<boolean> {
  const dataDir = options.dataDir ? resolve(options.dataDir) : await mkdtemp(join(tmpdir(), 'slipway-demo-'));
  const adminPassword = await demoAdminPassword(dataDir);
  const rootKeyFile = await demoRootKeyFile(dataDir);
  const config = loadServerConfig({
    dataDir,
    port: options.port ?? 0,
    logLevel: 'warn',
    adminPassword,
    rootKeyFile,
  });
  let server: RunningServer | undefined;
  let api = new ApiClient({ server: 'http://127.0.0.1:1' });
  const viewerPassword = `viewer-${randomToken(12)}`;
  const flow = await deliveryFlow({
    api: () => api,
    serverUrl: () => server!.url,
    dataDir,
    progress,
  });
  const steps: Step[] = [
    [
      'start the control plane on the embedded PostgreSQL',
      async () => {
        server = await startServer(config);
        api = new ApiClient({ server: server.url });
        return `${server.url}, ${server.startMs} ms`;
      },
    ],
    [
      'health and readiness answer',
      async () => {
        await api.get('/healthz');
        await api.get('/readyz');
        return undefined;
      },
    ],
    [
      'the administrator logs in and gets an API token',
      async () => {
        const login = await api.post<{ value: string }>('/api/auth/token', {
          username: 'admin',
          password: adminPassword,
          name: 'demo-check',
        });
        api = new ApiClient({ server: server!.url, token: login.value });
        const me = await api.get<{ grants: { role: string; scope: string }[] }>('/api/whoami');
        expect(
          me.grants.some((g) => g.role === 'admin' && g.scope === 'platform'),
          'admin does not hold admin on platform',
        );
        return undefined;
      },
    ],
    [
      'users, groups and role bindings',
      async () => {
        await api.post('/api/users', { username: 'demo-viewer', password: viewerPassword });
        await api.post('/api/groups', { name: 'staging-admins' });
        await api.post('/api/groups/staging-admins/members', { username: 'demo-viewer' });
        await api.post('/api/role-bindings', {
          subject: 'user:demo-viewer',
          role: 'viewer',
          scope: 'platform',
        });
        await api.post('/api/role-bindings', {
          subject: 'group:staging-admins',
          role: 'admin',
          scope: 'environment:staging',
        });
        return 'demo-viewer: viewer on platform, admin on staging through a group';
      },
    ],
    [
      'the policy denies what no role allows',
      async () => {
        const login = await new ApiClient({ server: server!.url }).post<{ value: string }>(
          '/api/auth/token',
          {
            username: 'demo-viewer',
            password: viewerPassword,
          },
        );
        const viewer = new ApiClient({ server: server!.url, token: login.value });
        const refused = await viewer
          .post('/api/users', { username: 'intruder', password: 'x'.repeat(16) })
          .then(
            () => undefined,
            (error: SlipwayError) => error,
          );
        expect(
          refused?.code === 'FORBIDDEN',
          `a viewer creating a user got ${refused?.code ?? 'success'}, expected FORBIDDEN`,
        );
        const access = await viewer.get<{ role: string | null }>('/api/environments/production/access');
        expect(access.role === 'viewer', `viewer's role on production is ${access.role}`);
        return 'viewer refused user creation (403)';
      },
    ],
    [
      'the secrets store is unsealed and keeps a value encrypted',
      async () => {
        const value = `demo-${randomToken(16)}`;
        await api.post('/api/secrets/environments/staging/APP_KEY', { value, reason: 'demo check' });
        const read = await api.get<{ value: string }>('/api/secrets/environments/staging/APP_KEY/value');
        expect(read.value === value, 'the secret read back differs from the one written');
        return 'APP_KEY written and read back on staging';
      },
    ],
    [
      'console, OpenAPI document and metrics are served',
      async () => {
        const page = await fetch(`${server!.url}/`, { headers: { accept: 'text/html' } }).then((r) =>
          r.text(),
        );
        expect(page.includes('<div id="root">'), 'the console page is missing (run `npm run build`)');
        const doc = await api.get<{ paths: Record<string, unknown> }>('/api/openapi.json');
        const metrics = await fetch(`${server!.url}/metrics`).then((r) => r.text());
        expect(
          metrics.includes('slipway_http_request_duration_seconds_bucket'),
          'request histogram missing from /metrics',
        );
        return `${Object.keys(doc.paths).length} API paths`;
      },
    ],
    ...flow.steps,
    [
      'restart keeps users, bindings and the audit chain',
      async () => {
        await server!.close();
        server = await startServer(config);
        api = new ApiClient({ server: server.url, token: api.target.token! });
        const users = await api.get<{ username: string }[]>('/api/users');
        expect(
          users.some((u) => u.username === 'demo-viewer'),
          'demo-viewer is gone after a restart',
        );
        const verification = await api.get<{ ok: boolean; checked: number; problem?: { message: string } }>(
          '/api/audit/verify',
        );
        expect(verification.ok, verification.problem?.message ?? 'audit chain broken');
        return `restart in ${server.startMs} ms; ${verification.checked} audit entries verified`;
      },
    ],
  ];
  try {
    return await runSteps(steps);
  } finally {
    if (server) {
      progress('cleaning up: destroying the demo environments');
      await flow.stop({ destroy: true });
    }
    await server?.close();
    if (!options.dataDir && !options.keep) await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * The first `slipway demo` on a data directory ships the reference app through the whole flow; later
 * ones find it shipped and say how to ship again. Returns lines for the summary.
 */
async function shipOnce(server: RunningServer, adminPassword: string, dataDir: string): Promise<string[]> {
  const login = await new ApiClient({ server: server.url }).post<{ value: string }>('/api/auth/token', {
    username: 'admin',
    password: adminPassword,
    name: `demo-${randomToken(6)}`,
  });
  const api = new ApiClient({ server: server.url, token: login.value });
  const flow: DeliveryFlow = await deliveryFlow({
    api: () => api,
    serverUrl: () => server.url,
    dataDir,
    progress,
  });
  const apps = await api.get<{ name: string }[]>('/api/apps');
  if (apps.some((a) => a.name === 'laravel-app')) {
    // Shipped before: the mailbox and the hook (the server's port may have changed) come back.
    const [mailbox, , register] = flow.steps;
    const ok = await runSteps([mailbox!, register!]);
    return ['', ok ? 'The reference app was shipped before:' : 'Setting up again failed:', ...flow.summary()];
  }
  process.stdout.write(
    '\nShipping the reference app through the whole flow (a few minutes the first time):\n',
  );
  const ok = await runSteps(flow.steps);
  return ['', ok ? 'Shipped:' : 'Shipping stopped at a failed step (above):', ...flow.summary()];
}

/** slipway demo */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'Run Slipway on its embedded default and show where to go; --check runs it unattended and verifies it',
    )
    .option('--check', 'run every stage unattended, verify it, stop, and exit 0 only on success')
    .option('--data-dir <dir>', 'data directory (default .slipway; --check uses a temporary one)')
    .option('--port <port>', 'port (default 7400, or a free one when it is taken)')
    .option('--keep', 'with --check: keep the temporary data directory')
    .action(async (options: DemoOptions) => {
      if (options.check) {
        const ok = await checkDemo(options);
        process.stdout.write(ok ? 'demo check passed\n' : 'demo check FAILED\n');
        process.exit(ok ? 0 : 1);
      }
      const dataDir = resolve(options.dataDir ?? '.slipway');
      const adminPassword = await demoAdminPassword(dataDir);
      const wanted = options.port ? Number(options.port) : 7400;
      const port = options.port || (await portIsFree(wanted)) ? wanted : 0;
      const rootKeyFile = await demoRootKeyFile(dataDir);
      const server = await startServer(
        loadServerConfig({ dataDir, port, logLevel: 'warn', adminPassword, rootKeyFile }),
      );
      announceAdminPassword(server);
      stopOnSignals(server);
      const shipped = await shipOnce(server, adminPassword, dataDir);
      process.stdout.write(
        [
          '',
          `Slipway is running (started in ${server.startMs} ms, ${server.store.location}).`,
          '',
          `  Console:   ${server.url}/`,
          '  Username:  admin',
          `  Password:  ${adminPassword}   (kept in ${join(dataDir, 'demo-admin-password')})`,
          '',
          `  CLI:       SLIPWAY_URL=${server.url} node bin/slipway.js login -u admin`,
          ...shipped,
          '',
          'Press Ctrl+C to stop.',
          '',
        ].join('\n'),
      );
    });
}
