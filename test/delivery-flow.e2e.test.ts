/**
 * The whole delivery flow of the Deployments issue, with real parts: the reference app in a git
 * repository whose bare origin has Slipway's post-receive hook; an infrastructure repository whose
 * `integration` environment runs the app (web behind HAProxy, a worker, PostgreSQL) on the local
 * provider. A push to master builds, unit-tests, packages and publishes the .deb; the run deploys it to
 * integration, runs the app's regression suite over HTTP against integration's load balancer, and
 * tells staging's administrators by email (a real SMTP server) and in the console's inbox — and no
 * one else.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createInfraRepository, type InfraRepository } from '../src/environments/testing.ts';
import { type MailCatcher, startMailCatcher } from '../src/notifications/index.ts';
import type { Run } from '../src/pipelines/index.ts';
import { TEST_USER_PASSWORD } from '../src/server/testing.ts';
import { POSTGRES_BIN } from '../src/store/index.ts';
import { destroyEnvironment, laravelEnvironment, laravelKey } from './deployments-support.ts';
import {
  api,
  eventually,
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
let infra: InfraRepository;
let mail: MailCatcher;
let mailDir: string;
let env: Record<string, string>;
/** Integration's APP_KEY: a unique random value, the canary of the secrets scan below. */
const appKey = laravelKey();

async function cli(...args: string[]) {
  const result = await runCli(args, { env, timeoutMs: 300_000 });
  if (result.code !== 0)
    throw new Error(`slipway ${args.join(' ')} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

async function person(username: string, email: string, grants: string[]): Promise<void> {
  await api(t, 'POST', '/api/users', { username, password: TEST_USER_PASSWORD, email }, 201);
  for (const grant of grants) {
    const [role, scope] = grant.split('@');
    await api(t, 'POST', '/api/role-bindings', { subject: `user:${username}`, role, scope }, 201);
  }
}

beforeAll(async () => {
  mailDir = await mkdtemp(join(tmpdir(), 'slipway-flow-mail-'));
  [t, repo, infra, mail] = await Promise.all([
    startPipelineServer(),
    makeRepository(),
    createInfraRepository(),
    startMailCatcher({ dir: mailDir }),
  ]);
  env = { SLIPWAY_URL: t.url, SLIPWAY_TOKEN: t.adminToken };
  await api(t, 'POST', '/api/notification-channels', {
    kind: 'email',
    name: 'mail',
    smtp: { host: mail.host, port: mail.port, from: 'Slipway <slipway@example.test>' },
  });
  await person('stella', 'stella@example.test', ['admin@environment:staging']);
  await person('dev', 'dev@example.test', ['developer@environment:integration']);
  await person('paul', 'paul@example.test', ['admin@environment:production']);
  await api(t, 'POST', '/api/secrets/environments/integration/APP_KEY', {
    value: appKey,
    reason: 'flow test',
  });

  // The reference app's files as a checkout has them (tracked, plus untracked but not ignored).
  const { stdout } = await execFileAsync(
    'git',
    ['ls-files', '--cached', '--others', '--exclude-standard', '-z'],
    {
      cwd: APP_SOURCE,
    },
  );
  for (const file of stdout.split('\0').filter((path) => path !== '')) {
    await mkdir(dirname(join(repo.work, file)), { recursive: true });
    await cp(join(APP_SOURCE, file), join(repo.work, file), { preserveTimestamps: true });
  }
  await repo.commit({}, 'The reference app');

  await infra.commit({ 'environments/integration.ts': laravelEnvironment('integration', { web: 1 }) });
  await api(t, 'PUT', '/api/environment-source', { url: infra.path, branch: 'main', pollInterval: '1h' });
  const applied = await eventually(
    async () => {
      const view = await api(t, 'GET', '/api/environments/integration').catch(() => undefined);
      return ['succeeded', 'failed'].includes(view?.lastApply?.status) ? view : undefined;
    },
    'integration to be applied',
    300_000,
  );
  expect(applied.lastApply.status, JSON.stringify(applied.lastApply)).toBe('succeeded');
}, 600_000);

afterAll(async () => {
  if (t) await destroyEnvironment(t, 'integration').catch((error) => console.error(error));
  await t?.stopAll();
  await mail?.stop();
  await Promise.all([repo?.remove(), infra?.remove(), rm(mailDir, { recursive: true, force: true })]);
}, 180_000);

describe('a merge on master goes all the way: build, integration, tests, staging admins told', () => {
  let run: Run;

  test('the push builds, publishes, deploys to integration, passes the regression suite there and announces it', async () => {
    await cli('apps', 'create', 'laravel-app', '--repo', repo.bare, '--branch', 'master');
    await cli('apps', 'hook', 'install', 'laravel-app', '--git-dir', repo.bare);
    const commit = await git(repo.work, 'rev-parse', 'HEAD');
    expect(await repo.push('master')).toContain(`Run laravel-app/1 queued for ${commit.slice(0, 12)}`);

    run = await waitForRun(t, 'laravel-app/1', undefined, 1_200_000);
    const log = await runLog(t, 'laravel-app/1');
    expect(run.state, log.slice(-4000)).toBe('succeeded');
    expect(run.steps.map((s) => [s.name, s.state])).toStrictEqual([
      ['checkout', 'succeeded'],
      ['build', 'succeeded'],
      ['unit-tests', 'succeeded'],
      ['package', 'succeeded'],
      ['publish', 'succeeded'],
      ['deploy-integration', 'succeeded'],
      ['integration-tests', 'succeeded'],
      ['notify', 'succeeded'],
    ]);
    expect(log).toMatch(/Deployment #1: laravel-app \S+ to integration/);
    expect(log).toMatch(/regression: (\d+)\/\1 passed/);

    // Integration serves the build through its load balancer.
    const view = await api(t, 'GET', '/api/environments/integration');
    const up = await fetch(`${view.loadBalancer.endpoints[0].url.replace(/\/$/, '')}/up`);
    expect(up.status).toBe(200);
    expect(up.headers.get('x-app-version')).toBe(run.version);
    const [deployment] = await api(t, 'GET', '/api/deployments?environment=integration');
    expect(deployment).toMatchObject({ number: 1, state: 'succeeded', version: run.version });
  }, 1_500_000);

  test("staging's administrators, and only they, are told by email and in the console", async () => {
    const mails = await eventually(
      async () => {
        const all = await mail.messages();
        return all.some((m) => m.subject.includes('ready for staging')) ? all : undefined;
      },
      'the email to staging administrators',
      30_000,
    );
    const announcement = mails.filter((m) => m.subject.includes('ready for staging'));
    expect(announcement.flatMap((m) => m.to)).toStrictEqual(['stella@example.test']);
    expect(announcement[0]!.subject).toContain(`laravel-app ${run.version} passed integration`);
    expect(announcement[0]!.text).toMatch(/regression: (\d+)\/\1 passed/);
    expect(announcement[0]!.text).toContain(`slipway deploy staging ${run.version} --app laravel-app`);

    const stella = await t.tokenFor('stella', TEST_USER_PASSWORD);
    const inbox = await t.inject('GET', '/api/notifications', { token: stella });
    expect(inbox.json().some((n: { title: string }) => n.title.includes(run.version!))).toBe(true);
    const paul = await t.tokenFor('paul', TEST_USER_PASSWORD);
    const other = await t.inject('GET', '/api/notifications', { token: paul });
    expect(other.json().some((n: { title: string }) => n.title.includes(run.version!))).toBe(false);
  });

  test("the secret the deploy used reaches only the app's env files: not the run log, events, audit, notifications, agent state or a pg_dump", async () => {
    const value = appKey.slice('base64:'.length);
    const forms = [
      appKey,
      value,
      Buffer.from(appKey).toString('hex'),
      Buffer.from(appKey).toString('base64'),
    ];
    // Every file under the control plane's data directory: artifacts, workspaces, hosts' trees and agents' state.
    const hits: string[] = [];
    const scanned = { files: 0 };
    const envFiles: string[] = [];
    const walk = async (path: string): Promise<void> => {
      for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
        const full = join(path, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.isFile()) {
          scanned.files += 1;
          const text = await readFile(full).catch(() => Buffer.alloc(0));
          if (forms.some((form) => text.includes(form)))
            hits.push(`${full.slice(t.dataDir.length)} ${((await stat(full)).mode & 0o777).toString(8)}`);
          if (entry.name === '.env')
            envFiles.push(`${full.slice(t.dataDir.length)}: ${text.toString().replace(/=.*/g, '=…')}`);
        }
      }
    };
    await walk(t.dataDir);
    expect(scanned.files).toBeGreaterThan(1000);
    // The deployed app sees it: the release's env file on each app host (0600, the app user's), and
    // Laravel's own config cache that `config:cache` made from it (0600: steps run with umask 077).
    // Nowhere else: not the artifacts, workspaces, agents' state or any other file.
    const envFileHits = hits.filter((h) => h.includes('/fs/opt/laravel-app/.env '));
    expect(envFileHits.length, envFiles.join('\n')).toBeGreaterThanOrEqual(2); // web and worker hosts
    for (const hit of hits)
      expect(hit).toMatch(
        /^\/local\/envs\/integration\/hosts\/[^/]+\/fs\/opt\/laravel-app\/(\.env|bootstrap\/cache\/config\.php) 600$/,
      );

    const { stdout: dump } = await execFileAsync(
      `${POSTGRES_BIN}/pg_dump`,
      ['--no-owner', '--dbname', t.postgres.url],
      {
        maxBuffer: 256 << 20,
      },
    );
    const [deployment] = await api(t, 'GET', '/api/deployments?environment=integration');
    const places: Record<string, string> = {
      'run log': await runLog(t, 'laravel-app/1'),
      'deployment events': JSON.stringify(
        await api(t, 'GET', `/api/deployments/${deployment.number}/events`),
      ),
      'audit log': JSON.stringify(await api(t, 'GET', '/api/audit?limit=1000')),
      notifications: JSON.stringify(await api(t, 'GET', '/api/notifications?limit=500')),
      'environment view': JSON.stringify(await api(t, 'GET', '/api/environments/integration')),
      pg_dump: dump,
    };
    expect(places['run log']).toMatch(/Deployment #1: laravel-app \S+ to integration/);
    expect(dump).toContain('COPY public.secret_versions');
    const found = Object.entries(places).flatMap(([place, text]) =>
      forms.filter((form) => text.includes(form)).map(() => place),
    );
    expect(found).toStrictEqual([]);
  });
});
