/**
 * Deployments of the real reference app (Laravel on php-fpm behind HAProxy, a queue worker,
 * PostgreSQL) onto an environment of the local provider: hosts install the release's .deb from the
 * environment's APT channel, release hooks migrate the database, and rollouts move traffic through
 * the environment's HAProxy without dropping a request — rolling, blue-green and canary — while a
 * load generator records every answer. Failures (a failing migration, a failing postinst, a canary
 * whose 5xx rate trips its gate) leave the previous release serving.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createInfraRepository, type InfraRepository } from '../src/environments/testing.ts';
import { generateRootKey } from '../src/secrets/index.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';
import {
  type Answer,
  type BuiltApp,
  buildReferenceApp,
  destroyEnvironment,
  laravelEnvironment,
  laravelKey,
  publish,
  startLoad,
} from './deployments-support.ts';
import { eventually } from './pipelines-support.ts';

const RATE = 200; // requests per second through the load balancer during every rollout
let dir: string;
let t: TestServer;
let app: BuiltApp;
let repo: InfraRepository;
let lbUrl: string;
const V = {
  v1: '1.0.0~b1+g0000001',
  v2: '1.0.0~b2+g0000002',
  v3: '1.0.0~b3+g0000003',
  brokenRoute: '1.0.0~b4+g0000004',
  brokenMigration: '1.0.0~b5+g0000005',
  brokenPostinst: '1.0.0~b6+g0000006',
};

const TERMINAL = ['succeeded', 'failed', 'rolled_back'];

async function waitFor(number: number): Promise<any> {
  return eventually(
    async () => {
      const d = (await t.inject('GET', `/api/deployments/${number}`, { token: t.adminToken })).json();
      return TERMINAL.includes(d.state) ? d : undefined;
    },
    `deployment #${number}`,
    600_000,
  );
}

async function deploy(version: string, strategy?: Record<string, unknown>): Promise<any> {
  const started = await t.inject('POST', '/api/deployments', {
    token: t.adminToken,
    body: { environment: 'staging', app: 'laravel-app', version, ...(strategy ? { strategy } : {}) },
  });
  expect(started.statusCode, started.body).toBe(201);
  return waitFor(started.json().number);
}

async function events(number: number): Promise<string> {
  const list = (await t.inject('GET', `/api/deployments/${number}/events`, { token: t.adminToken })).json();
  return list.map((e: { at: string; message: string }) => `${e.at} ${e.message}`).join('\n');
}

async function get(path: string): Promise<{ status: number; version: string | null; body: string }> {
  const response = await fetch(`${lbUrl}${path}`);
  return {
    status: response.status,
    version: response.headers.get('x-app-version'),
    body: await response.text(),
  };
}

/** What the hosts of staging run: each web/worker host's installed version. */
async function installed(): Promise<Record<string, string | null>> {
  const view = (await t.inject('GET', '/api/environments/staging', { token: t.adminToken })).json();
  return Object.fromEntries(
    view.hosts.map((h: any) => [h.name, h.release?.installed?.version ?? h.release?.version ?? null]),
  );
}

/** Every answer was a 200; a summary otherwise (what failed, when). */
function failures(answers: readonly Answer[]): string[] {
  return answers
    .filter((a) => a.status !== 200)
    .map((a) => `${new Date(a.at).toISOString()} ${a.status} (${a.version ?? 'no version'})`);
}

/** Runs `work` under load; returns the deployment and every answer the load saw. */
async function underLoad(work: () => Promise<any>): Promise<{ deployment: any; answers: Answer[] }> {
  const load = startLoad(`${lbUrl}/`, RATE);
  const stopped = (async () => {
    await new Promise((resolve) => setTimeout(resolve, 2000)); // the old release serves first
    return work();
  })();
  const deployment = await stopped
    .finally(() => undefined)
    .catch(async (error) => {
      await load.stop();
      throw error;
    });
  await new Promise((resolve) => setTimeout(resolve, 2000)); // and the new one after
  return { deployment, answers: await load.stop() };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-deploy-'));
  [t, app, repo] = await Promise.all([
    startTestServer({ rootKey: generateRootKey() }),
    buildReferenceApp(dir),
    createInfraRepository(),
  ]);
  const key = await t.inject('POST', '/api/secrets/environments/staging/APP_KEY', {
    token: t.adminToken,
    body: { value: laravelKey(), reason: 'test' },
  });
  expect(key.statusCode, key.body).toBe(200);
  for (const version of [V.v1, V.v2, V.v3]) await publish(t, app, await app.package(version), version);
  await publish(
    t,
    app,
    await app.package(V.brokenRoute, async (ws) => {
      const routes = join(ws, 'routes/web.php');
      const text = await readFile(routes, 'utf8');
      await writeFile(
        routes,
        text.replace("Route::get('/', AdminUiController::class);", "Route::get('/', fn () => abort(500));"),
      );
    }),
    V.brokenRoute,
  );
  await publish(
    t,
    app,
    await app.package(V.brokenMigration, async (ws) => {
      await writeFile(
        join(ws, 'database/migrations/2099_01_01_000000_broken.php'),
        `<?php\nuse Illuminate\\Database\\Migrations\\Migration;\nreturn new class extends Migration {\n  public function up() { throw new RuntimeException('this migration is broken on purpose'); }\n};\n`,
      );
    }),
    V.brokenMigration,
  );
  await publish(
    t,
    app,
    await app.package(V.brokenPostinst, async (ws) => {
      const postinst = join(ws, 'debian/postinst');
      const lines = (await readFile(postinst, 'utf8')).split('\n');
      lines.splice(1, 0, 'echo "postinst: refusing on purpose" >&2', 'exit 1');
      await writeFile(postinst, lines.join('\n'));
    }),
    V.brokenPostinst,
  );
  await repo.commit({ 'environments/staging.ts': laravelEnvironment('staging', { web: 3 }) });
  const source = await t.inject('PUT', '/api/environment-source', {
    token: t.adminToken,
    body: { url: repo.path, branch: 'main', pollInterval: '1h' },
  });
  expect(source.statusCode).toBe(200);
  const applied = await eventually(
    async () => {
      const view = (await t.inject('GET', '/api/environments/staging', { token: t.adminToken })).json();
      return view.lastApply?.status === 'succeeded' || view.lastApply?.status === 'failed' ? view : undefined;
    },
    'staging to be applied',
    300_000,
  );
  expect(applied.lastApply.status, JSON.stringify(applied.lastApply)).toBe('succeeded');
  lbUrl = applied.loadBalancer.endpoints[0].url.replace(/\/$/, '');
}, 900_000);

afterAll(async () => {
  if (t) await destroyEnvironment(t, 'staging').catch((error) => console.error(error));
  await t?.stop();
  await repo?.remove();
  await rm(dir, { recursive: true, force: true });
}, 180_000);

describe('deploying the reference app to staging (3 web hosts behind HAProxy, a worker, PostgreSQL)', () => {
  test('the first deployment installs the .deb on every host, migrates once, and the load balancer serves it', async () => {
    const deployment = await deploy(V.v1);
    const log = await events(deployment.number);
    expect(deployment.state, log).toBe('succeeded');
    expect(log).toMatch(/migrate/);
    expect(Object.values(await installed())).toStrictEqual([V.v1, V.v1, V.v1, V.v1]);
    const up = await get('/up');
    expect(up).toMatchObject({ status: 200, version: V.v1 });
    // The schema exists: the API writes and reads through the balancer.
    const created = await fetch(`${lbUrl}/api/organisations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ name: 'Deploy test org' }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
  }, 600_000);

  test(`rolling V1 → V2 under ${RATE} req/s: no request fails, and the version header moves to V2`, async () => {
    const { deployment, answers } = await underLoad(() =>
      deploy(V.v2, { strategy: 'rolling', batchSize: 1, maxSurge: 1 }),
    );
    expect(deployment.state, await events(deployment.number)).toBe('succeeded');
    expect(failures(answers)).toStrictEqual([]);
    expect(answers.length).toBeGreaterThan(RATE * 4);
    expect(answers[0]!.version).toBe(V.v1);
    expect(answers.slice(-RATE / 2).every((a) => a.version === V.v2)).toBe(true);
    expect(Object.values(await installed()).every((v) => v === V.v2)).toBe(true);
  }, 600_000);

  test('blue-green V2 → V3 under load: a full new set, one switch, no request fails', async () => {
    const before = (await get('/up')).version;
    const { deployment, answers } = await underLoad(() =>
      deploy(V.v3, { strategy: 'blue-green', keepOldMs: 0 }),
    );
    const log = await events(deployment.number);
    expect(deployment.state, log).toBe('succeeded');
    expect(failures(answers), log).toStrictEqual([]);
    const firstNew = answers.findIndex((a) => a.version === V.v3);
    expect(firstNew).toBeGreaterThan(0);
    // One switch: once V3 answered, V2 answers only what was already in flight (well under a second).
    const switchedAt = answers[firstNew]!.at;
    const lateOld = answers.filter((a) => a.version === before && a.at > switchedAt + 1000);
    expect(lateOld).toStrictEqual([]);
    expect((await get('/up')).version).toBe(V.v3);
  }, 600_000);

  test('a canary whose 5xx rate trips the gate is rolled back automatically; V3 keeps serving', async () => {
    const load = startLoad(`${lbUrl}/`, RATE);
    let deployment: any;
    try {
      deployment = await deploy(V.brokenRoute, {
        strategy: 'canary',
        steps: [20, 100],
        pauseMs: 5000,
        maxErrorRatePercent: 1,
      });
    } finally {
      await load.stop();
    }
    const log = await events(deployment.number);
    expect(deployment.state, log).toBe('rolled_back');
    expect(log).toMatch(/5xx|error rate/i);
    const after = startLoad(`${lbUrl}/`, RATE);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const answers = await after.stop();
    expect(failures(answers)).toStrictEqual([]);
    expect(answers.every((a) => a.version === V.v3)).toBe(true);
  }, 600_000);

  test('a failing migration (predeploy) aborts before traffic moves; V3 serves throughout', async () => {
    const { deployment, answers } = await underLoad(() => deploy(V.brokenMigration));
    const log = await events(deployment.number);
    expect(['failed', 'rolled_back'], log).toContain(deployment.state);
    expect(log).toMatch(/broken on purpose|predeploy/);
    expect(failures(answers)).toStrictEqual([]);
    expect(answers.every((a) => a.version === V.v3)).toBe(true);
  }, 600_000);

  test('a failing postinst aborts the rollout; the previous release keeps serving without a failed request', async () => {
    const { deployment, answers } = await underLoad(() => deploy(V.brokenPostinst));
    const log = await events(deployment.number);
    expect(['failed', 'rolled_back'], log).toContain(deployment.state);
    expect(log).toMatch(/postinst/);
    expect(failures(answers)).toStrictEqual([]);
    expect(answers.slice(-RATE).every((a) => a.version === V.v3)).toBe(true);
    expect(Object.values(await installed()).every((v) => v === V.v3)).toBe(true);
  }, 600_000);

  test('rollback is a single action: the release before V3 serves again', async () => {
    const started = await t.inject('POST', '/api/deployments/rollback', {
      token: t.adminToken,
      body: { environment: 'staging', app: 'laravel-app' },
    });
    expect(started.statusCode, started.body).toBe(201);
    const deployment = await waitFor(started.json().number);
    expect(deployment.state, await events(deployment.number)).toBe('succeeded');
    expect(deployment.version).toBe(V.v2);
    expect((await get('/up')).version).toBe(V.v2);
  }, 600_000);

  test('a developer of staging, or a deployer of production, cannot deploy to staging: 403, audited, nothing starts', async () => {
    const developer = await t.userWithRoles('staging-developer', ['developer@environment:staging']);
    const elsewhere = await t.userWithRoles('production-deployer', ['deployer@environment:production']);
    const before = (await t.inject('GET', '/api/deployments', { token: t.adminToken })).json().length;
    for (const token of [developer, elsewhere]) {
      const denied = await t.inject('POST', '/api/deployments', {
        token,
        body: { environment: 'staging', app: 'laravel-app', version: V.v3 },
      });
      expect(denied.statusCode, denied.body).toBe(403);
      const rollback = await t.inject('POST', '/api/deployments/rollback', {
        token,
        body: { environment: 'staging', app: 'laravel-app' },
      });
      expect(rollback.statusCode, rollback.body).toBe(403);
    }
    const audit = await t.inject('GET', '/api/audit?action=deployments.create&outcome=denied', {
      token: t.adminToken,
    });
    const actors = audit.json().map((e: { actor: string }) => e.actor);
    expect(actors).toContain('staging-developer');
    expect(actors).toContain('production-deployer');
    expect((await t.inject('GET', '/api/deployments', { token: t.adminToken })).json().length).toBe(before);
  });
});
