/**
 * The Pipelines issue's end-to-end test: the reference app (examples/laravel-app) in a git repository
 * whose bare origin has Slipway's post-receive hook. A push to master starts a run that checks out,
 * builds (npm ci, the AngularJS UI), runs the PHPUnit unit suite and packages the .deb in the sandbox,
 * then publishes it; a push to another branch starts nothing. All through the built CLI.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Artifact } from '../src/artifacts/index.ts';
import type { Run } from '../src/pipelines/index.ts';
import {
  api,
  git,
  makeRepository,
  type PipelineTestServer,
  runLog,
  startPipelineServer,
  type TestRepository,
  waitForRun,
} from './pipelines-support.ts';
import { runCli } from './support/cli.ts';

const execFileAsync = promisify(execFile);
const APP_SOURCE = fileURLToPath(new URL('../examples/laravel-app', import.meta.url));

let t: PipelineTestServer;
let repo: TestRepository;
let env: Record<string, string>;
let downloads: string;

/** The app's files as a checkout has them: tracked, plus untracked but not ignored. */
async function appFiles(): Promise<string[]> {
  const { stdout } = await execFileAsync(
    'git',
    ['ls-files', '--cached', '--others', '--exclude-standard', '-z'],
    {
      cwd: APP_SOURCE,
    },
  );
  return stdout.split('\0').filter((path) => path !== '');
}

async function cli(...args: string[]) {
  const result = await runCli(args, { env, timeoutMs: 300_000 });
  if (result.code !== 0)
    throw new Error(`slipway ${args.join(' ')} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

beforeAll(async () => {
  t = await startPipelineServer();
  repo = await makeRepository();
  downloads = await mkdtemp(join(tmpdir(), 'slipway-downloads-'));
  env = { SLIPWAY_URL: t.url, SLIPWAY_TOKEN: t.adminToken };
  for (const file of await appFiles()) {
    await mkdir(dirname(join(repo.work, file)), { recursive: true });
    await cp(join(APP_SOURCE, file), join(repo.work, file), { preserveTimestamps: true });
  }
  await repo.commit({}, 'The reference app');
}, 120_000);
afterAll(async () => {
  await t?.stopAll();
  await repo?.remove();
  await rm(downloads, { recursive: true, force: true });
});

describe('a push of the reference app to its tracked branch', () => {
  let run: Run;
  let commit: string;

  test('registers the app and installs the hook with the CLI', async () => {
    const created = await cli('apps', 'create', 'laravel-app', '--repo', repo.bare, '--branch', 'master');
    expect(created.stdout).toContain('Registered app laravel-app');
    expect(created.stdout).toMatch(/Webhook secret: whs_\S{40,}/);
    const installed = await cli('apps', 'hook', 'install', 'laravel-app', '--git-dir', repo.bare);
    expect(installed.stdout).toContain(`Installed ${join(repo.bare, 'hooks', 'post-receive')}`);
  });

  test('starts a run through the hook, which builds, unit-tests, packages and publishes it', async () => {
    commit = await git(repo.work, 'rev-parse', 'HEAD');
    const pushed = await repo.push('master');
    expect(pushed).toContain(`slipway: Run laravel-app/1 queued for ${commit.slice(0, 12)}`);

    // The CLI follows the log live until the run ends.
    const follow = await runCli(['runs', 'logs', 'laravel-app/1', '--follow'], { env, timeoutMs: 600_000 });
    run = await waitForRun(t, 'laravel-app/1', undefined, 10_000);
    const log = await runLog(t, 'laravel-app/1');
    expect(run.state, log).toBe('succeeded');
    expect(follow.code).toBe(0);
    expect(follow.stdout).toBe(log);
    expect(follow.stderr).toContain('Run laravel-app/1 succeeded');

    expect(run.trigger).toBe('git-hook');
    expect(run.steps.map((s) => [s.name, s.state])).toStrictEqual([
      ['checkout', 'succeeded'],
      ['build', 'succeeded'],
      ['unit-tests', 'succeeded'],
      ['package', 'succeeded'],
      ['publish', 'succeeded'],
      // No integration environment runs the app in this test: nothing to deploy, test or announce.
      ['deploy-integration', 'skipped'],
      ['integration-tests', 'skipped'],
      ['notify', 'skipped'],
    ]);
    expect(log).toContain('$ npm ci');
    expect(log).toMatch(/OK \(\d+ tests, \d+ assertions\)/); // PHPUnit's summary
    expect(log).toContain("dpkg-deb: building package 'laravel-app'");
  }, 600_000);

  test('the artifact has the right version, metadata and contents', async () => {
    const version = `1.0.0~b1+g${commit.slice(0, 12)}`;
    expect(run.version).toBe(version);
    const [artifact] = await api<Artifact[]>(t, 'GET', '/api/artifacts?app=laravel-app');
    expect(artifact).toMatchObject({
      app: 'laravel-app',
      package: 'laravel-app',
      version,
      architecture: 'all',
      filename: `laravel-app_${version}_all.deb`,
      metadata: { commit, branch: 'master', run: 'laravel-app/1', runNumber: 1 },
    });
    expect(artifact!.metadata.builder).toMatch(/^slipway \S+ on \S+$/);
    const app = await api(t, 'GET', '/api/apps/laravel-app');
    expect(app.latestBuild).toMatchObject({ run: 'laravel-app/1', version });

    const file = join(downloads, 'app.deb');
    await cli('artifacts', 'download', 'laravel-app', version, '-o', file);
    const info = (await execFileAsync('dpkg-deb', ['--info', file])).stdout;
    for (const script of ['preinst', 'postinst', 'prerm', 'postrm', 'conffiles'])
      expect(info).toContain(` ${script}`);
    expect(info).toContain('Depends: php-cli (>= 2:8.2), php-fpm');
    expect(info).toContain(`Slipway-Commit: ${commit}`);
    const contents = (await execFileAsync('dpkg-deb', ['--contents', file], { maxBuffer: 64 << 20 })).stdout;
    expect(contents).toMatch(/root\/root .* \.\/opt\/laravel-app\/artisan/);
    expect(contents).toMatch(/\.\/opt\/laravel-app\/public\/build\/angular\.min\.[0-9a-f]{16}\.js/);
    expect(contents).toContain('./etc/laravel-app/fpm.ini');
    expect(contents).not.toContain('node_modules');
    expect(contents).not.toContain('./opt/laravel-app/debian/');
    await execFileAsync('dpkg-deb', ['-x', file, join(downloads, 'root')]);
    expect((await readFile(join(downloads, 'root', 'opt', 'laravel-app', 'VERSION'), 'utf8')).trim()).toBe(
      version,
    );
  });

  test('a push to another branch starts nothing', async () => {
    await repo.commit({ 'README.feature': 'work in progress\n' }, 'A feature');
    const pushed = await repo.push('feature/x');
    expect(pushed).toContain('slipway: Nothing to build: the push was to refs/heads/feature/x');
    const runs = await api<Run[]>(t, 'GET', '/api/runs?app=laravel-app');
    expect(runs.map((r) => r.number)).toStrictEqual([1]);
  });
});
