/**
 * Apps and runs through the built CLI: register, list, show, update, rotate the secret, install the
 * hook; start a run and wait for it, list, show, re-run, cancel; and the errors people meet.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  makeRepository,
  type PipelineTestServer,
  startPipelineServer,
  type TestRepository,
  tinyApp,
  waitForRun,
} from './pipelines-support.ts';
import { runCli } from './support/cli.ts';

let t: PipelineTestServer;
let repo: TestRepository;
let env: Record<string, string>;

function cli(...args: string[]) {
  return runCli(args, { env, timeoutMs: 120_000 });
}

beforeAll(async () => {
  t = await startPipelineServer();
  repo = await makeRepository();
  await repo.commit(tinyApp('cli-built', { build: 'echo compiling; echo built > out.txt' }));
  await repo.push();
  env = { SLIPWAY_URL: t.url, SLIPWAY_TOKEN: t.adminToken };
});
afterAll(async () => {
  await t?.stopAll();
  await repo?.remove();
});

describe('slipway apps', () => {
  test('create, list, show, update and rotate the secret', async () => {
    const created = await cli(
      'apps',
      'create',
      'cli-built',
      '--repo',
      repo.bare,
      '--branch',
      'master',
      '--keep',
      '5',
    );
    expect(created.code).toBe(0);
    const list = await cli('apps', 'list');
    expect(list.stdout).toMatch(
      /^NAME\s+BRANCH\s+REPOSITORY\s+NETWORK\s+LATEST\ncli-built\s+master\s+\S+origin\.git\s+allowed\s+-\n$/,
    );
    // (Polling stays off: it would start runs of its own.)
    const updated = await cli(
      '--json',
      'apps',
      'update',
      'cli-built',
      '--network',
      'denied',
      '--concurrency',
      '3',
    );
    expect(JSON.parse(updated.stdout)).toMatchObject({ network: 'denied', concurrency: 3, retentionKeep: 5 });
    await cli(
      'apps',
      'update',
      'cli-built',
      '--network',
      'allowed',
      '--concurrency',
      '1',
      '--poll-interval',
      'off',
    );
    const shown = JSON.parse((await cli('--json', 'apps', 'show', 'cli-built')).stdout);
    expect(shown).toMatchObject({
      name: 'cli-built',
      network: 'allowed',
      pollIntervalSeconds: null,
      hookInstalled: false,
    });
    expect(JSON.stringify(shown)).not.toMatch(/whs_/);
    const rotated = await cli('apps', 'rotate-secret', 'cli-built');
    expect(rotated.stdout).toMatch(
      /^Webhook URL: {4}http:\/\/127\.0\.0\.1:\d+\/api\/webhooks\/cli-built\nWebhook secret: whs_\S+\n/,
    );
  });

  test('a name that is taken, or bad flags, say what to do', async () => {
    const taken = await cli('apps', 'create', 'cli-built', '--repo', repo.bare);
    expect(taken.code).toBe(6);
    expect(taken.stderr).toBe(
      'Error: Cannot create app "cli-built": the name is taken\nChoose another name, or run `slipway apps show cli-built`\n',
    );
    const badRepo = await cli('apps', 'create', 'other-app', '--repo', 'ext::sh -c evil');
    expect(badRepo.code).toBe(2);
    expect(badRepo.stderr).toContain('body.repository: use an https://, ssh://, git:// or file:// URL');
    const badInterval = await cli('apps', 'update', 'cli-built', '--poll-interval', 'often');
    expect(badInterval.code).toBe(2);
    expect(badInterval.stderr).toContain('Cannot read --poll-interval "often": expected a number and a unit');
  });

  test('hook install writes the hook, and leaves a hook it did not write alone unless forced', async () => {
    await writeFile(join(repo.bare, 'hooks', 'post-receive'), '#!/bin/sh\necho mine\n', { mode: 0o755 });
    const refused = await cli('apps', 'hook', 'install', 'cli-built', '--git-dir', repo.bare);
    expect(refused.code).toBe(6);
    expect(refused.stderr).toContain('exists and was not written by Slipway');
    const forced = await cli('apps', 'hook', 'install', 'cli-built', '--git-dir', repo.bare, '--force');
    expect(forced.code).toBe(0);
    const notBare = await cli('apps', 'hook', 'install', 'cli-built', '--git-dir', repo.work);
    expect(notBare.stderr).toContain('is not a bare git repository');
  });
});

describe('slipway runs', () => {
  test('start --wait follows the log and exits 0 when the run succeeds; list and show', async () => {
    const started = await cli('runs', 'start', 'cli-built', '--wait');
    expect(started.code).toBe(0);
    expect(started.stdout).toMatch(
      /^Run cli-built\/1 queued for [0-9a-f]{12}\n== Run cli-built\/1 \(attempt 1\)/,
    );
    expect(started.stdout).toContain('compiling\n');
    expect(started.stderr).toBe('Run cli-built/1 succeeded\n');
    const list = await cli('runs', 'list', '--app', 'cli-built');
    expect(list.stdout).toMatch(
      /cli-built\/1\s+succeeded\s+[0-9a-f]{12}\s+1\.0\.0~b1\+g[0-9a-f]{12}\s+manual/,
    );
    const shown = await cli('runs', 'show', 'cli-built/1');
    expect(shown.stdout).toMatch(/^run:\s+cli-built\/1\nstate:\s+succeeded\n/);
    expect(shown.stdout).toMatch(/publish\s+succeeded/);
  });

  test('rerun makes a new run; cancel stops one; the log can be read afterwards', async () => {
    const rerun = await cli('runs', 'rerun', 'cli-built/1');
    expect(rerun.stdout).toMatch(/^Run cli-built\/2 queued for [0-9a-f]{12}\n$/);
    expect((await waitForRun(t, 'cli-built/2')).state).toBe('succeeded');
    await repo.commit({ 'slipway.yaml': tinyApp('cli-built', { build: 'sleep 60' })['slipway.yaml'] });
    await repo.push();
    await cli('runs', 'start', 'cli-built');
    await waitForRun(t, 'cli-built/3', (run) => run.steps[1]?.state === 'running');
    const cancelled = await cli('runs', 'cancel', 'cli-built/3');
    expect(cancelled.code).toBe(0);
    expect((await waitForRun(t, 'cli-built/3')).state).toBe('cancelled');
    const logs = await cli('runs', 'logs', 'cli-built/3');
    expect(logs.stdout).toContain('-- Build: cancelled: cancelled');
    const followed = await cli('runs', 'logs', 'cli-built/3', '--follow');
    expect(followed.code).toBe(1); // a run that did not succeed
    expect(followed.stderr).toBe('Run cli-built/3 cancelled: cancelled\n');
  });

  test('a run named wrongly, or missing, is an error that says so', async () => {
    const wrong = await cli('runs', 'show', 'cli-built-3');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe(
      'Error: Cannot read run "cli-built-3": expected APP/NUMBER\nName a run like laravel-app/12 (`slipway runs list` shows them)\n',
    );
    const missing = await cli('runs', 'show', 'cli-built/99');
    expect(missing.code).toBe(5);
    expect(missing.stderr).toBe(
      'Error: Cannot find run cli-built/99\nRun `slipway runs list --app cli-built` to see its runs\n',
    );
  });

  test('an app with runs in flight cannot be deleted until they are cancelled', async () => {
    await cli('runs', 'start', 'cli-built');
    await waitForRun(t, 'cli-built/4', (run) => run.state === 'running');
    const busy = await cli('apps', 'delete', 'cli-built');
    expect(busy.code).toBe(6);
    expect(busy.stderr).toContain('Cannot delete app "cli-built": 1 run is queued or running');
    await cli('runs', 'cancel', 'cli-built/4');
    await waitForRun(t, 'cli-built/4');
    const deleted = await cli('apps', 'delete', 'cli-built');
    expect(deleted.stdout).toBe('Deleted app cli-built\n');
  });
});
