/**
 * A control plane killed with SIGKILL in the middle of a rollout: the environment's HAProxy and hosts
 * keep serving while it is down, and after a restart the deployment resumes where its persisted state
 * says and ends — every web host on one version, the surge host gone, no request failed. The control
 * plane runs as its own process on its embedded PostgreSQL, as in production.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createInfraRepository, type InfraRepository } from '../src/environments/testing.ts';
import { generateRootKey } from '../src/secrets/index.ts';
import { freePort } from '../src/store/testing.ts';
import {
  type BuiltApp,
  buildReferenceApp,
  laravelEnvironment,
  laravelKey,
  startLoad,
} from './deployments-support.ts';
import {
  killAll,
  processesMentioning,
  type ServerProcess,
  startServerProcess,
  tokenFor,
} from './environments-support.ts';
import { eventually } from './pipelines-support.ts';
import { runCli } from './support/cli.ts';

const PASSWORD = 'deploy-restart-admin-password';
const V1 = '1.0.0~b1+g0000001';
const V2 = '1.0.0~b2+g0000002';
let dir: string;
let server: ServerProcess;
let token: string;
let port: number;
let app: BuiltApp;
let repo: InfraRepository;
let rootKeyFile: string;

async function startServer(): Promise<void> {
  server = await startServerProcess({
    dataDir: join(dir, 'data'),
    localRoot: join(dir, 'local'),
    adminPassword: PASSWORD,
    port,
    logFile: join(dir, 'server.log'),
    env: { SLIPWAY_ROOT_KEY_FILE: rootKeyFile },
  });
  token = await tokenFor(server.url, 'admin', PASSWORD);
}

async function api(method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function publish(version: string): Promise<void> {
  const deb = await app.package(version);
  const uploaded = await runCli(['artifacts', 'upload', 'laravel-app', deb], {
    env: { SLIPWAY_URL: server.url, SLIPWAY_TOKEN: token, SLIPWAY_CONFIG: join(dir, 'cli.json') },
    timeoutMs: 120_000,
  });
  expect(uploaded.code, uploaded.stderr).toBe(0);
  await api('POST', '/api/release-layouts', { app: 'laravel-app', version, slipwayYaml: app.slipwayYaml });
}

const TERMINAL = ['succeeded', 'failed', 'rolled_back'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-deploy-restart-'));
  await chmod(dir, 0o711);
  rootKeyFile = join(dir, 'root-key');
  await writeFile(rootKeyFile, `${generateRootKey()}\n`, { mode: 0o600 });
  port = await freePort();
  [app, repo] = await Promise.all([buildReferenceApp(dir), createInfraRepository(), startServer()]);
  await publish(V1);
  await publish(V2);
  await api('POST', '/api/secrets/environments/staging/APP_KEY', { value: laravelKey(), reason: 'test' });
  await repo.commit({ 'environments/staging.ts': laravelEnvironment('staging', { web: 3 }) });
  await api('PUT', '/api/environment-source', { url: repo.path, branch: 'main', pollInterval: '1h' });
  const applied = await eventually(
    async () => {
      const view = await api('GET', '/api/environments/staging');
      return ['succeeded', 'failed'].includes(view.lastApply?.status) ? view : undefined;
    },
    'staging to be applied',
    300_000,
  );
  expect(applied.lastApply.status, JSON.stringify(applied.lastApply)).toBe('succeeded');
  const first = await api('POST', '/api/deployments', {
    environment: 'staging',
    app: 'laravel-app',
    version: V1,
  });
  const done = await eventually(
    async () => {
      const d = await api('GET', `/api/deployments/${first.number}`);
      return TERMINAL.includes(d.state) ? d : undefined;
    },
    'the first release',
    600_000,
  );
  expect(done.state).toBe('succeeded');
}, 900_000);

afterAll(async () => {
  await api('POST', '/api/environments/staging/destroy', { confirm: 'staging' }).catch(() => undefined);
  await eventually(
    async () => ((await api('GET', '/api/environments/staging')).status === 'destroyed' ? true : undefined),
    'staging destroyed',
    120_000,
  ).catch(() => undefined);
  await server?.stop().catch(() => undefined);
  killAll(await processesMentioning(dir));
  await new Promise((resolve) => setTimeout(resolve, 500));
  killAll(await processesMentioning(dir));
  await repo?.remove();
  await rm(dir, { recursive: true, force: true });
}, 240_000);

describe('kill -9 of the control plane in the middle of a rollout', () => {
  test('the deployment resumes after the restart and ends with every host on one version, no request failed', async () => {
    const view = await api('GET', '/api/environments/staging');
    const lb = view.loadBalancer.endpoints[0].url.replace(/\/$/, '');
    const load = startLoad(`${lb}/`, 100);
    try {
      const started = await api('POST', '/api/deployments', {
        environment: 'staging',
        app: 'laravel-app',
        version: V2,
        strategy: { strategy: 'rolling', batchSize: 1, maxSurge: 1 },
      });
      // In the middle: the first new host is being installed.
      await eventually(
        async () => {
          const events = await api('GET', `/api/deployments/${started.number}/events`);
          return events.some((e: { message: string }) =>
            /install the new release on|wait until \S+ is healthy/.test(e.message),
          )
            ? true
            : undefined;
        },
        'the rollout to be under way',
        300_000,
      );
      await server.kill();
      await new Promise((resolve) => setTimeout(resolve, 3000)); // traffic keeps flowing without it
      await startServer();

      const finished = await eventually(
        async () => {
          const d = await api('GET', `/api/deployments/${started.number}`);
          return TERMINAL.includes(d.state) ? d : undefined;
        },
        'the deployment to end after the restart',
        600_000,
      );
      const events = (await api('GET', `/api/deployments/${started.number}/events`))
        .map((e: { at: string; message: string }) => `${e.at} ${e.message}`)
        .join('\n');
      expect(events).toMatch(/resuming at step \d+ after a control-plane restart/);
      expect(['succeeded', 'rolled_back'], events).toContain(finished.state);
      const version = finished.state === 'succeeded' ? V2 : V1;

      // Every web host on that one version, installed and serving; exactly three of them.
      const after = await eventually(
        async () => {
          const v = await api('GET', '/api/environments/staging');
          const web = v.hosts.filter((h: { services: string[] }) => h.services.includes('web'));
          return web.length === 3 && v.loadBalancer.servers.length === 3 ? v : undefined;
        },
        'three web hosts',
        60_000,
      );
      for (const host of after.hosts)
        expect({ host: host.name, version: host.release?.installed?.version }).toStrictEqual({
          host: host.name,
          version,
        });
      expect(after.loadBalancer.servers.every((s: { status: string }) => s.status.startsWith('UP'))).toBe(
        true,
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
    } finally {
      const answers = await load.stop();
      const failed = answers.filter((a) => a.status !== 200);
      expect(failed.map((a) => `${new Date(a.at).toISOString()} ${a.status} ${a.version}`)).toStrictEqual([]);
      expect(answers.length).toBeGreaterThan(500);
    }
  }, 900_000);
});
