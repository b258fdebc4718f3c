/**
 * GitOps: a merge to the tracked branch of the infrastructure repository plans every changed
 * environment; integration applies on its own; staging waits for one action by an administrator of
 * staging; a developer's or deployer's apply is refused (403) and audited; a merge with invalid
 * definitions is recorded with every problem and touches nothing that runs.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createInfraRepository, type InfraRepository } from '../src/environments/testing.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';
import { environmentFile, killAll, processesMentioning } from './environments-support.ts';

let dir: string;
let localRoot: string;
let t: TestServer;
let repo: InfraRepository;
const tokens: Record<string, string> = {};

async function view(name: string, token = t.adminToken): Promise<any> {
  const response = await t.inject('GET', `/api/environments/${name}`, { token });
  expect(response.statusCode).toBe(200);
  return response.json();
}

async function until<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function answer(name: string): Promise<any> {
  return (await fetch((await view(name)).loadBalancer.endpoints[0].url)).json();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-env-gitops-'));
  await chmod(dir, 0o711);
  localRoot = join(dir, 'local');
  process.env.SLIPWAY_LOCAL_ROOT = localRoot;
  t = await startTestServer({ dataDir: join(dir, 'data') });
  tokens.stageAdmin = await t.userWithRoles('stage-admin', ['admin@environment:staging']);
  tokens.developer = await t.userWithRoles('stage-dev', ['developer@environment:staging']);
  tokens.deployer = await t.userWithRoles('stage-deployer', ['deployer@environment:staging']);
  tokens.integrationAdmin = await t.userWithRoles('int-admin', ['admin@environment:integration']);
  await t.userWithRoles('releaser', []);
  repo = await createInfraRepository();
}, 120_000);

afterAll(async () => {
  await t?.stop();
  killAll(await processesMentioning(dir));
  const tag = createHash('sha256').update(localRoot).digest('hex').slice(0, 10);
  killAll(await processesMentioning(`--label=${tag}:`));
  await repo?.remove();
  await rm(dir, { recursive: true, force: true });
}, 120_000);

describe('GitOps on the tracked branch', () => {
  test('a merge applies integration on its own and leaves staging waiting for an admin', async () => {
    const commit = await repo.commit({
      'environments/integration.ts': environmentFile('integration'),
      'environments/staging.ts': environmentFile('staging', {
        admins: ['user:stage-admin'],
        deployers: ['user:releaser'],
      }),
    });
    const set = await t.inject('PUT', '/api/environment-source', {
      token: t.adminToken,
      body: { url: repo.path, branch: 'main', pollInterval: '500ms' },
    });
    expect(set.statusCode).toBe(200);
    const integration = await until(
      async () => {
        const v = await view('integration').catch(() => undefined);
        return ['succeeded', 'failed'].includes(v?.lastApply?.status) ? v : undefined;
      },
      240_000,
      'the apply of integration to end',
    );
    expect(integration.lastApply.status, JSON.stringify(integration.lastApply)).toBe('succeeded');
    expect(integration.status, JSON.stringify(integration.problems)).toBe('healthy');
    expect(integration.appliedCommit).toBe(commit);
    expect(integration.lastApply).toMatchObject({
      status: 'succeeded',
      requestedBy: 'system:gitops',
      commit,
    });
    const staging = await view('staging');
    expect(staging.status).toBe('not-applied');
    expect(staging.hosts).toStrictEqual([]);
    expect(staging.waitingPlan).toMatchObject({
      status: 'awaiting-approval',
      trigger: 'git',
      commit,
      summary: { create: 5, update: 0, delete: 0 },
    });
    expect(staging.canApply).toBe(true);
  }, 300_000);

  test("a developer's or deployer's apply is refused with 403 and audited; the environment's admin approves it", async () => {
    const { waitingPlan } = await view('staging');
    for (const who of ['developer', 'deployer', 'integrationAdmin']) {
      const refused = await t.inject('POST', '/api/environments/staging/apply', {
        token: tokens[who],
        body: { planId: waitingPlan.id },
      });
      expect({ who, status: refused.statusCode }).toStrictEqual({ who, status: 403 });
    }
    expect((await view('staging', tokens.developer)).canApply).toBe(false);
    const audit = await t.inject('GET', '/api/audit?action=environments.apply&outcome=denied', {
      token: t.adminToken,
    });
    expect(
      audit
        .json()
        .map((e: any) => [e.actor, e.target, e.details.error])
        .sort(),
    ).toStrictEqual([
      ['int-admin', 'environment:staging', 'FORBIDDEN'],
      ['stage-deployer', 'environment:staging', 'FORBIDDEN'],
      ['stage-dev', 'environment:staging', 'FORBIDDEN'],
    ]);
    expect((await view('staging')).waitingPlan.id).toBe(waitingPlan.id);

    const approved = await t.inject('POST', '/api/environments/staging/apply', {
      token: tokens.stageAdmin,
      body: { planId: waitingPlan.id },
    });
    expect(approved.statusCode).toBe(202);
    await until(async () => (await view('staging')).status === 'healthy', 240_000, 'staging to be healthy');
    const staging = await view('staging');
    expect(staging.lastApply).toMatchObject({ status: 'succeeded', requestedBy: 'stage-admin' });
    const bindings = await t.inject('GET', '/api/role-bindings?scope=environment:staging', {
      token: t.adminToken,
    });
    expect(
      bindings
        .json()
        .map((b: any) => `${b.subject} ${b.role}`)
        .sort(),
    ).toContain('user:releaser deployer');
  }, 300_000);

  test('the next merge plans what changed: integration is applied, staging waits again', async () => {
    expect(await answer('integration')).toMatchObject({ release: 'r1' });
    const before = await view('staging');
    const commit = await repo.commit({
      'environments/integration.ts': environmentFile('integration', { release: 'r2' }),
      'environments/staging.ts': environmentFile('staging', {
        admins: ['user:stage-admin'],
        deployers: ['user:releaser'],
        release: 'r2',
      }),
    });
    await until(
      async () => {
        const v = await view('integration');
        return v.appliedCommit === commit && v.status === 'healthy';
      },
      120_000,
      'integration at the new commit',
    );
    await until(
      async () => (await answer('integration')).release === 'r2',
      30_000,
      'integration to serve r2',
    );
    const staging = await view('staging');
    expect(staging.waitingPlan).toMatchObject({ commit, summary: { create: 0, update: 1, delete: 0 } });
    expect(staging.waitingPlan.changes[0].fields).toContainEqual({
      path: 'processes.web.env.RELEASE_NAME',
      before: 'r1',
      after: 'r2',
    });
    expect(staging.appliedCommit).toBe(before.appliedCommit);
    expect(await answer('staging')).toMatchObject({ release: 'r1' });
  }, 300_000);

  test('a merge with invalid definitions is rejected with every problem, and nothing running is touched', async () => {
    const before = await view('integration');
    const commit = await repo.commit({
      'environments/integration.ts': environmentFile('integration', {
        release: 'r3',
        webExtra: 'replicas: 3,',
        extra: `new Service(environment, 'api', { port: 8080, scaling: Scaling.auto({ min: 4, max: 2 }), secrets: { KEY: SecretRef.named('NOPE') } });`,
      }).replace('Approval, Database,', 'Approval, Database, SecretRef,'),
    });
    const source = await until(
      async () => {
        const s = (await t.inject('GET', '/api/environment-source', { token: t.adminToken })).json();
        return s.lastCommit === commit && s.lastError ? s : undefined;
      },
      60_000,
      'the check of the invalid commit',
    );
    expect(source.lastError.message).toBe(
      `4 problems in the definitions at ${commit.slice(0, 12)}; nothing was planned`,
    );
    expect(source.lastError.problems.map((p: any) => `${p.file}: ${p.path}: ${p.message}`)).toStrictEqual([
      'environments/integration.ts: integration.services.web.replicas: "replicas" is not a property of Service',
      "environments/integration.ts: integration.services.api.scaling.min: 'min' (4) must not be greater than 'max' (2)",
      'environments/integration.ts: integration.services.api.secrets.KEY: the secret "NOPE" is not declared by the environment "integration"',
      'environments/integration.ts: integration.services.web.port: the port 8080 is already used by the service "api"',
    ]);
    const planned = await t.inject('POST', '/api/environments/integration/plans', {
      token: tokens.integrationAdmin,
    });
    const plan = await until(
      async () => {
        const p = (
          await t.inject('GET', `/api/environments/integration/plans/${planned.json().id}`, {
            token: t.adminToken,
          })
        ).json();
        return p.status !== 'evaluating' ? p : undefined;
      },
      60_000,
      'the plan to be evaluated',
    );
    expect(plan).toMatchObject({ status: 'invalid', commit });
    expect(plan.problems).toHaveLength(4);
    const after = await view('integration');
    expect(after.appliedCommit).toBe(before.appliedCommit);
    expect(after.hosts[0].agent.pid).toBe(before.hosts[0].agent.pid);
    expect(after.hosts[0].revision).toStrictEqual(before.hosts[0].revision);
    expect(await answer('integration')).toMatchObject({ release: 'r2' });
    const audit = await t.inject('GET', '/api/audit?action=environments.gitops.rejected', {
      token: t.adminToken,
    });
    expect(audit.json()[0]).toMatchObject({
      actor: 'system:gitops',
      target: `commit:${commit}`,
      outcome: 'failure',
    });
  }, 180_000);

  test('destroying both leaves nothing behind', async () => {
    for (const name of ['integration', 'staging']) {
      const destroyed = await t.inject('POST', `/api/environments/${name}/destroy`, {
        token: t.adminToken,
        body: { confirm: name },
      });
      expect(destroyed.statusCode).toBe(202);
    }
    for (const name of ['integration', 'staging']) {
      await until(async () => (await view(name)).status === 'destroyed', 120_000, `${name} to be destroyed`);
    }
    expect(await processesMentioning(localRoot)).toStrictEqual([]);
    expect(await readdir(join(localRoot, 'envs'))).toStrictEqual([]);
  }, 180_000);
});
