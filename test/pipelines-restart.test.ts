/**
 * A control plane killed outright (SIGKILL) in the middle of a run: its build sandbox dies with it,
 * and the control plane started after it finds the run's heartbeat stale, marks the interrupted step,
 * and runs it again as a new attempt. Nothing stays "running".
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Run } from '../src/pipelines/index.ts';
import { generateRootKey } from '../src/secrets/index.ts';
import { freePort, startPostgres, type TestPostgres } from '../src/store/testing.ts';
import { makeRepository, type TestRepository, tinyApp } from './pipelines-support.ts';

const BIN = new URL('../bin/slipway.js', import.meta.url).pathname;
const PASSWORD = 'restart-admin-password';

let postgres: TestPostgres;
let root: string;
let repo: TestRepository;
const children: ChildProcess[] = [];

interface Server {
  readonly url: string;
  readonly child: ChildProcess;
}

async function startServer(): Promise<Server> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [BIN, 'server', '--data-dir', join(root, 'data'), '--port', String(port), '--log-level', 'warn'],
    {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        SLIPWAY_DATABASE_URL: postgres.url,
        SLIPWAY_ADMIN_PASSWORD: PASSWORD,
        // Apps' webhook secrets are sealed by the secret store: both control planes share its root key.
        SLIPWAY_ROOT_KEY_FILE: join(root, 'root.key'),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  children.push(child);
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 60_000);
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
      if (stderr.includes('is ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

async function call<T = any>(
  server: Server,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

beforeAll(async () => {
  postgres = await startPostgres();
  root = await mkdtemp(join(tmpdir(), 'slipway-restart-'));
  await writeFile(join(root, 'root.key'), `${generateRootKey()}\n`, { mode: 0o600 });
  await chmod(root, 0o711);
  repo = await makeRepository();
  await repo.commit(tinyApp('survivor', { build: 'sleep 4; echo built > out.txt' }));
  await repo.push();
});
afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await postgres?.stop();
  await repo?.remove();
  await rm(root, { recursive: true, force: true });
});

test('a run whose control plane was killed with SIGKILL is taken back and retried after a restart', async () => {
  // given a run in its build step on a control plane
  const first = await startServer();
  const { value: token } = (await (
    await fetch(`${first.url}/api/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: PASSWORD, name: 'restart-test' }),
    })
  ).json()) as { value: string };
  await call(first, token, 'POST', '/api/apps', { name: 'survivor', repository: repo.bare });
  await call(first, token, 'POST', '/api/apps/survivor/runs', {});
  const deadline = Date.now() + 30_000;
  while ((await call<Run>(first, token, 'GET', '/api/apps/survivor/runs/1')).steps[1]?.state !== 'running') {
    if (Date.now() > deadline) throw new Error('the build step never started');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  // when the control plane dies outright and another one starts on the same database
  first.child.kill('SIGKILL');
  await new Promise((resolve) => first.child.once('exit', resolve));
  const second = await startServer();

  // then the run is taken back once its heartbeat is stale, and succeeds as attempt 2
  let run: Run | undefined;
  const until = Date.now() + 90_000;
  while (Date.now() < until) {
    run = await call<Run>(second, token, 'GET', '/api/apps/survivor/runs/1');
    if (['succeeded', 'failed', 'cancelled'].includes(run.state)) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  expect(run).toMatchObject({ state: 'succeeded', attempt: 2 });
  const log = (
    await call<{ text: string }[]>(second, token, 'GET', '/api/apps/survivor/runs/1/logs?limit=10000')
  )
    .map((chunk) => chunk.text)
    .join('');
  expect(log).toContain(
    '!! Attempt 1 was interrupted: the control plane running it stopped. Retrying (attempt 2).',
  );
  const artifacts = await call<{ version: string }[]>(second, token, 'GET', '/api/artifacts?app=survivor');
  expect(artifacts.map((a) => a.version)).toStrictEqual([run!.version]);
  second.child.kill('SIGTERM');
  await new Promise((resolve) => second.child.once('exit', resolve));
}, 150_000);
