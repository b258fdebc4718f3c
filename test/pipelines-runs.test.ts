/**
 * Runs: failing steps, per-step timeouts, cancel, re-run, the per-app concurrency limit, live logs
 * over server-sent events, redaction of secret values, polling, versions from tags, and a graceful
 * restart of the control plane in the middle of a run.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Run } from '../src/pipelines/index.ts';
import {
  api,
  git,
  makeRepository,
  type PipelineTestServer,
  runLog,
  startPipelineServer,
  type TestRepository,
  tinyApp,
  waitForRun,
} from './pipelines-support.ts';

let t: PipelineTestServer;
const repos: TestRepository[] = [];

/** Registers an app whose repository holds the given slipway.yaml options; returns its secret. */
async function appWith(
  name: string,
  options: Parameters<typeof tinyApp>[1] = {},
  settings: Record<string, unknown> = {},
): Promise<{ repo: TestRepository; secret: string }> {
  const repo = await makeRepository();
  repos.push(repo);
  await repo.commit(tinyApp(name, options));
  await repo.push();
  const created = await api(t, 'POST', '/api/apps', { name, repository: repo.bare, ...settings });
  return { repo, secret: created.webhookSecret };
}

async function start(app: string, body: Record<string, unknown> = {}): Promise<string> {
  const result = await api(t, 'POST', `/api/apps/${app}/runs`, body);
  return `${app}/${result.run.number}`;
}

beforeAll(async () => {
  t = await startPipelineServer();
});
afterAll(async () => {
  await t?.stopAll();
  for (const repo of repos) await repo.remove();
});

describe('a run', () => {
  test('stops at a failing unit test; later steps are skipped and the log shows why', async () => {
    await appWith('failing', { test: 'echo "1 test failed: expected 2, got 3"; exit 1' });
    const handle = await start('failing');
    const run = await waitForRun(t, handle);
    expect(run.state).toBe('failed');
    expect(run.error).toBe('Unit tests: "Unit tests" exited with status 1');
    expect(run.steps.map((s) => s.state)).toStrictEqual([
      'succeeded',
      'succeeded',
      'failed',
      'skipped', // package
      'skipped', // publish
      'skipped', // deploy-integration
      'skipped', // integration-tests
      'skipped', // notify
    ]);
    expect(await runLog(t, handle)).toContain('1 test failed: expected 2, got 3');
    expect(await api(t, 'GET', '/api/artifacts?app=failing')).toStrictEqual([]);
  });

  test('a step that outlives its timeout is killed and fails the run', async () => {
    await appWith('slow', { build: 'sleep 60' });
    // A one-second build step: slipway.yaml sets each command's timeout.
    const repo = repos.at(-1)!;
    await repo.commit({
      'slipway.yaml': tinyApp('slow', { build: 'sleep 60' })['slipway.yaml'].replace(
        'timeout: 1m',
        'timeout: 1s',
      ),
    });
    await repo.push();
    const started = Date.now();
    const run = await waitForRun(t, await start('slow'));
    expect(run.state).toBe('failed');
    expect(run.error).toBe('Build: "Compile" timed out after 1s');
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  test('can be cancelled while it runs, and while it waits', async () => {
    await appWith('cancelme', { build: 'sleep 60' });
    const running = await start('cancelme');
    await waitForRun(t, running, (run) => run.steps[1]?.state === 'running');
    const waiting = await start('cancelme');
    const [app, number] = waiting.split('/');
    const cancelledWaiting = await api<Run>(t, 'POST', `/api/apps/${app}/runs/${number}/cancel`);
    expect(cancelledWaiting.state).toBe('cancelled');
    expect(cancelledWaiting.steps.every((s) => s.state === 'cancelled')).toBe(true);

    const stopped = Date.now();
    await api(t, 'POST', `/api/apps/${running.replace('/', '/runs/')}/cancel`);
    const run = await waitForRun(t, running);
    expect(Date.now() - stopped).toBeLessThan(5000);
    expect(run.state).toBe('cancelled');
    expect(run.steps.map((s) => s.state)).toStrictEqual([
      'succeeded',
      ...Array(7).fill('cancelled'), // build … notify
    ]);
    const again = await t.inject('POST', `/api/apps/${running.replace('/', '/runs/')}/cancel`, {
      token: t.adminToken,
    });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.message).toBe(`Cannot cancel run ${running}: it has cancelled already`);
  });

  test('a re-run builds the same commit as a new run with a new build number and version', async () => {
    await appWith('again');
    const first = await waitForRun(t, await start('again'));
    const rerun = await api(t, 'POST', `/api/apps/again/runs/${first.number}/rerun`);
    expect(rerun.message).toBe(`Run again/${first.number + 1} queued for ${first.commit.slice(0, 12)}`);
    const second = await waitForRun(t, `again/${rerun.run.number}`);
    expect(second).toMatchObject({
      state: 'succeeded',
      commit: first.commit,
      trigger: 'rerun',
      rerunOf: first.number,
    });
    expect(second.version).toBe(`1.0.0~b${first.number + 1}+g${first.commit.slice(0, 12)}`);
    execFileSync('dpkg', ['--compare-versions', first.version!, 'lt', second.version!]);
    const versions = (await api(t, 'GET', '/api/artifacts?app=again')).map(
      (a: { version: string }) => a.version,
    );
    expect(versions).toStrictEqual([second.version, first.version]);
  });

  test("runs of an app wait for the app's concurrency limit", async () => {
    // This control plane executes two runs at once: each app's pair is started alone.
    await appWith('serial', { build: 'sleep 2; echo built > out.txt' });
    await appWith('parallel', { build: 'sleep 2; echo built > out.txt' }, { concurrency: 2 });
    const serial = await Promise.all(
      [await start('serial'), await start('serial')].map((handle) => waitForRun(t, handle)),
    );
    const parallel = await Promise.all(
      [await start('parallel'), await start('parallel')].map((handle) => waitForRun(t, handle)),
    );
    expect([...serial, ...parallel].every((run) => run.state === 'succeeded')).toBe(true);
    const [s1, s2] = serial as [Run, Run];
    const [p1, p2] = parallel as [Run, Run];
    // The second serial run started only once the first had finished; the parallel ones overlapped.
    expect(Date.parse(s2.startedAt!)).toBeGreaterThanOrEqual(Date.parse(s1.finishedAt!));
    expect(Date.parse(p2.startedAt!)).toBeLessThan(Date.parse(p1.finishedAt!));
  });

  test('its log streams live as server-sent events, from the first line to the end', async () => {
    await appWith('streamed', {
      build: 'for i in 1 2 3; do echo "line $i"; sleep 0.3; done; echo built > out.txt',
    });
    const handle = await start('streamed');
    const [app, number] = handle.split('/');
    const response = await fetch(`${t.url}/api/apps/${app}/runs/${number}/logs?follow=true`, {
      headers: { authorization: `Bearer ${t.adminToken}`, accept: 'text/event-stream' },
    });
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const text = await response.text(); // the server ends the stream when the run ends
    const events = text
      .split('\n\n')
      .filter(Boolean)
      .map((block) => ({ event: /^event: (.+)$/m.exec(block)?.[1], data: /^data: (.*)$/m.exec(block)?.[1] }));
    const logText = events
      .filter((e) => e.event === 'log')
      .map((e) => JSON.parse(e.data!).text)
      .join('');
    expect(logText).toBe(await runLog(t, handle));
    expect(logText).toMatch(/line 1\nline 2\nline 3\n/);
    expect(events.filter((e) => e.event === 'run').length).toBeGreaterThan(3);
    expect(events.at(-1)?.event).toBe('end');
    expect(JSON.parse(events.at(-1)!.data!).state).toBe('succeeded');
  });

  test("secret values never reach the log: the app's webhook secret printed by a build is redacted", async () => {
    const { repo, secret } = await appWith('leaky');
    const half = Math.floor(secret.length / 2);
    // Printed whole, and printed in two writes half a second apart (two chunks of output).
    const build = `echo "token=$LEAK"; printf 'split=%s' "$LEAK_A"; sleep 0.5; printf '%s\\n' "$LEAK_B"; echo built > out.txt`;
    const env = `      env:\n        LEAK: "${secret}"\n        LEAK_A: "${secret.slice(0, half)}"\n        LEAK_B: "${secret.slice(half)}"\n`;
    await repo.commit({
      'slipway.yaml': tinyApp('leaky', { build })['slipway.yaml'].replace(
        'timeout: 1m\ntest',
        `timeout: 1m\n${env}test`,
      ),
    });
    await repo.push();
    const handle = await start('leaky');
    expect((await waitForRun(t, handle)).state).toBe('succeeded');
    const log = await runLog(t, handle);
    expect(log).toContain('token=[redacted:WEBHOOK_SECRET]\n');
    expect(log).toContain('split=[redacted:WEBHOOK_SECRET]\n');
    expect(log).not.toContain(secret.slice(0, half));
    expect(log).not.toContain(secret.slice(half));
  });

  test('polling finds a push when no webhook comes', async () => {
    const { repo } = await appWith('polled', {}, { pollIntervalSeconds: 10 });
    // The first look records the branch head and builds it.
    const first = await waitUntilRuns('polled', 1);
    expect(first[0]).toMatchObject({ trigger: 'poll' });
    const commit = await repo.commit({ 'new.txt': 'new\n' });
    await repo.push();
    const runs = await waitUntilRuns('polled', 2);
    expect(runs[0]).toMatchObject({ trigger: 'poll', commit });
    await waitForRun(t, `polled/${runs[0]!.number}`);
  }, 60_000);

  test('without a version in slipway.yaml the base comes from the latest vX.Y.Z tag', async () => {
    const { repo } = await appWith('tagged', { version: '' });
    await git(repo.work, 'tag', 'v2.3.0');
    await git(repo.work, 'push', '--quiet', 'origin', 'v2.3.0');
    const run = await waitForRun(t, await start('tagged'));
    expect(run.version).toBe(`2.3.0~b1+g${run.commit.slice(0, 12)}`);
    expect(await runLog(t, `tagged/${run.number}`)).toContain('(base 2.3.0 from tag v2.3.0)');
  });
});

async function waitUntilRuns(app: string, count: number): Promise<Run[]> {
  const deadline = Date.now() + 40_000;
  while (Date.now() < deadline) {
    const runs = await api<Run[]>(t, 'GET', `/api/runs?app=${app}`);
    if (runs.length >= count) return runs;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${app} never had ${count} runs`);
}

describe('a graceful restart of the control plane', () => {
  test('puts a run in flight back in the queue; it runs again as a new attempt and succeeds', async () => {
    await appWith('restarted', { build: 'sleep 3; echo built > out.txt' });
    const handle = await start('restarted');
    await waitForRun(t, handle, (run) => run.steps[1]?.state === 'running');
    await t.stopServer();
    await t.restartServer();
    const run = await waitForRun(t, handle);
    expect(run).toMatchObject({ state: 'succeeded', attempt: 2 });
    const log = await runLog(t, handle);
    expect(log).toContain('The control plane is stopping: this run goes back to the queue as a new attempt');
    expect(log).toContain('== Run restarted/1 (attempt 2)');
  });
});
