/**
 * The runner's handling of host removals against a real PostgreSQL (the deployment's persisted state)
 * and an in-memory rollout target (fake hosts that record what happens to them; the real target is
 * exercised by test/deployments*.e2e.test.ts). Removing an old host goes on beside the next actions,
 * the deployment ends only when every removal has, a failed removal fails it, and a resumed
 * deployment removes again what it had started removing.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM_CLOCK } from '../core/index.ts';
import { MODULE_MIGRATIONS } from '../server/modules.ts';
import { type Database, migrateToLatest, openDatabase } from '../store/index.ts';
import { startPostgres, type TestPostgres } from '../store/testing.ts';
import { runDeployment } from './runner.ts';
import type { RolloutTarget, TargetInstance } from './target.ts';

let postgres: TestPostgres;
let database: Database;

beforeAll(async () => {
  postgres = await startPostgres();
  database = openDatabase({ connectionString: postgres.url });
  await migrateToLatest(database.db, MODULE_MIGRATIONS);
}, 120_000);
afterAll(async () => {
  await database?.close();
  await postgres?.stop();
});

/** An in-memory target: hosts as names; every call is logged with the time it started and ended. */
class FakeTarget implements RolloutTarget {
  readonly hosts = new Set<string>();
  readonly log: { what: string; start: number; end: number }[] = [];
  removeMs = 300;
  failRemoving: string | undefined;
  constructor(readonly initial: string[]) {
    for (const host of initial) this.hosts.add(host);
  }
  async #step(what: string, ms: number, work?: () => void): Promise<void> {
    const start = performance.now();
    await new Promise((resolve) => setTimeout(resolve, ms));
    work?.();
    this.log.push({ what, start, end: performance.now() });
  }
  async instances(): Promise<TargetInstance[]> {
    return this.initial.map((host) => ({ host, serving: true }));
  }
  createHost(host: string) {
    return this.#step(`create ${host}`, 50, () => this.hosts.add(host));
  }
  install(host: string) {
    return this.#step(`install ${host}`, 50);
  }
  waitHealthy(host: string) {
    return this.#step(`healthy ${host}`, 20);
  }
  runHook(host: string, hook: string) {
    return this.#step(`${hook} ${host}`, 10);
  }
  serve(host: string) {
    return this.#step(`serve ${host}`, 10);
  }
  setWeights() {
    return this.#step('weights', 5);
  }
  drain(host: string) {
    return this.#step(`drain ${host}`, 10);
  }
  async deleteHost(host: string): Promise<void> {
    await this.#step(`remove ${host}`, this.removeMs, () => {
      if (this.failRemoving === host) throw new Error(`${host} would not stop`);
      this.hosts.delete(host);
    });
  }
  async counters() {
    return { requests: 0, errors5xx: 0, averageResponseMs: 0 };
  }
  async adopt(hosts: readonly string[]) {
    this.log.push({ what: `adopt ${hosts.join(',')}`, start: performance.now(), end: performance.now() });
  }
}

async function deploymentRow(): Promise<string> {
  const db = database.db;
  const environment = `env-${randomUUID().slice(0, 8)}`;
  const release = randomUUID();
  await db
    .insertInto('releases')
    .values({
      id: release,
      environment,
      app: 'app',
      version: '1.0',
      artifact: JSON.stringify({}),
      config: JSON.stringify({}),
      created_by: 'test',
    })
    .execute();
  const id = randomUUID();
  await db
    .insertInto('deployments')
    .values({
      id,
      environment,
      app: 'app',
      release_id: release,
      strategy: JSON.stringify({ strategy: 'rolling', batchSize: 1, maxSurge: 1, maxUnavailable: 0 }),
      state: 'pending',
      trigger: 'manual',
      requested_by: 'test',
    })
    .execute();
  return id;
}

async function events(id: string): Promise<string[]> {
  const rows = await database.db
    .selectFrom('deployment_events')
    .select('message')
    .where('deployment_id', '=', id)
    .orderBy('id')
    .execute();
  return rows.map((r) => r.message);
}

/** Runs (or resumes) the deployment against the fake target until it ends or `signal` stops it. */
function deploy(id: string, target: FakeTarget, signal = new AbortController().signal) {
  return runDeployment({ db: database.db, clock: SYSTEM_CLOCK, target }, id, signal);
}

describe('removing old hosts during a rollout', () => {
  test('goes on beside the next instances; the deployment ends after the last removal', async () => {
    const id = await deploymentRow();
    const target = new FakeTarget(['web-1', 'web-2', 'web-3']);
    const state = await deploy(id, target);
    expect(state, (await events(id)).join('\n')).toBe('succeeded');
    expect([...target.hosts].sort()).toStrictEqual(['web-4', 'web-5', 'web-6']);
    const removeWeb1 = target.log.find((e) => e.what === 'remove web-1')!;
    const createWeb5 = target.log.find((e) => e.what === 'create web-5')!;
    // web-5 was being created while web-1 was still being removed.
    expect(createWeb5.start).toBeLessThan(removeWeb1.end);
    // Every removal ended before the hosts were adopted and the deployment succeeded.
    const adopted = target.log.find((e) => e.what.startsWith('adopt'))!;
    for (const removal of target.log.filter((e) => e.what.startsWith('remove')))
      expect(removal.end).toBeLessThanOrEqual(adopted.start);
    expect(await events(id)).toEqual(
      expect.arrayContaining(['removed web-1', 'removed web-2', 'removed web-3']),
    );
  });

  test('a removal that fails fails the deployment, which rolls back', async () => {
    const id = await deploymentRow();
    const target = new FakeTarget(['web-1', 'web-2']);
    target.failRemoving = 'web-1';
    const state = await deploy(id, target);
    const log = (await events(id)).join('\n');
    expect(state, log).toBe('rolled_back');
    expect(log).toContain('removing web-1 failed: web-1 would not stop');
  });

  test('a deployment resumed after a stop removes again what it had started removing', async () => {
    const id = await deploymentRow();
    const target = new FakeTarget(['web-1', 'web-2']);
    target.removeMs = 400;
    const stop = new AbortController();
    const first = deploy(id, target, stop.signal);
    // Stop as soon as web-1's removal has started (the control plane going away).
    while (!(await events(id)).some((m) => m.endsWith('remove web-1')))
      await new Promise((resolve) => setTimeout(resolve, 5));
    stop.abort(new Error('stopping'));
    expect(await first).not.toBe('succeeded');
    const resumed = await deploy(id, target);
    const log = (await events(id)).join('\n');
    expect(resumed, log).toBe('succeeded');
    expect(log).toMatch(/resuming at step \d+ after a control-plane restart/);
    expect([...target.hosts].sort()).toStrictEqual(['web-3', 'web-4']);
    expect(target.log.filter((e) => e.what === 'remove web-1').length).toBeGreaterThanOrEqual(1);
  });
});
