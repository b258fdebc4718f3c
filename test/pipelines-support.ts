/**
 * Helpers for the pipelines and artifacts tests: a control plane with a data directory of its own,
 * real git repositories (a bare one to push to, a working copy to commit in), and waiting for runs.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Run } from '../src/pipelines/index.ts';
import { generateRootKey } from '../src/secrets/index.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';

const execFileAsync = promisify(execFile);

/** A started control plane whose data directory (artifacts, workspaces) is a temporary one. */
export interface PipelineTestServer extends TestServer {
  readonly dataDir: string;
  /** Stops the server and database and removes the data directory. */
  stopAll(): Promise<void>;
}

/**
 * Starts a control plane with its own data directory, reachable by the build user. Its secret store
 * gets a fresh root key (apps' webhook secrets are sealed by it) unless `settings` names one, or
 * sets `rootKey: undefined` for a sealed store.
 */
export async function startPipelineServer(
  settings: Record<string, unknown> = {},
): Promise<PipelineTestServer> {
  const root = await mkdtemp(join(tmpdir(), 'slipway-pipelines-'));
  await chmod(root, 0o711);
  const dataDir = join(root, 'data');
  const rootKey = 'rootKey' in settings || 'rootKeyFile' in settings ? {} : { rootKey: generateRootKey() };
  const server = await startTestServer({ dataDir, ...rootKey, ...settings });
  return Object.assign(server, {
    dataDir,
    async stopAll() {
      await server.stop();
      await rm(root, { recursive: true, force: true });
    },
  }) as PipelineTestServer;
}

/** Runs git and returns its output. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('git', args, {
    cwd,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: '/nonexistent',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'Test',
      GIT_AUTHOR_EMAIL: 'test@example.org',
      GIT_COMMITTER_NAME: 'Test',
      GIT_COMMITTER_EMAIL: 'test@example.org',
    },
    maxBuffer: 64 << 20,
  });
  return stdout.trim();
}

/** A bare repository to push to and a working copy to commit in. */
export interface TestRepository {
  readonly root: string;
  readonly bare: string;
  readonly work: string;
  /** Writes files (path → content), commits them, returns the commit id. */
  commit(files: Readonly<Record<string, string>>, message?: string): Promise<string>;
  /** Pushes HEAD to a branch of the bare repository; returns what the hook printed. */
  push(branch?: string): Promise<string>;
  remove(): Promise<void>;
}

/** Makes a bare repository and a working copy with its first branch "master". */
export async function makeRepository(): Promise<TestRepository> {
  const root = await mkdtemp(join(tmpdir(), 'slipway-repo-'));
  const bare = join(root, 'origin.git');
  const work = join(root, 'work');
  await git(root, 'init', '--quiet', '--bare', '--initial-branch=master', bare);
  await git(root, 'init', '--quiet', '--initial-branch=master', work);
  await git(work, 'remote', 'add', 'origin', bare);
  return {
    root,
    bare,
    work,
    async commit(files, message = 'change') {
      for (const [path, content] of Object.entries(files)) {
        await mkdir(dirname(join(work, path)), { recursive: true });
        await writeFile(join(work, path), content);
      }
      await git(work, 'add', '--all');
      await git(work, 'commit', '--quiet', '--allow-empty', '-m', message);
      return git(work, 'rev-parse', 'HEAD');
    },
    async push(branch = 'master') {
      const { stderr } = await execFileAsync(
        'git',
        ['push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`],
        {
          cwd: work,
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            HOME: '/nonexistent',
            GIT_CONFIG_GLOBAL: '/dev/null',
          },
        },
      );
      return stderr;
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

/** A tiny app: one build step, one test, a .deb with a file and a postinst. */
export function tinyApp(name: string, options: { version?: string; build?: string; test?: string } = {}) {
  return {
    'slipway.yaml': `app: ${name}
${options.version === undefined ? 'version: 1.0.0' : options.version ? `version: "${options.version}"` : ''}
build:
  steps:
    - name: Compile
      run: ${JSON.stringify(options.build ?? 'echo "built $SLIPWAY_VERSION" > out.txt')}
      timeout: 1m
test:
  name: Unit tests
  run: ${JSON.stringify(options.test ?? 'test -s out.txt')}
  timeout: 1m
package:
  name: ${name}
  description: Tiny test app
  maintainer: Tests <tests@example.org>
  architecture: all
  files:
    - from: out.txt
      to: /opt/${name}/out.txt
  scripts:
    postinst: postinst
`,
    postinst: '#!/bin/sh\nexit 0\n',
  };
}

/** Calls the API as the administrator and returns the parsed body; throws on an unexpected status. */
export async function api<T = any>(
  t: TestServer,
  method: string,
  path: string,
  body?: unknown,
  expectStatus?: number,
): Promise<T> {
  const response = await t.inject(method, path, {
    token: t.adminToken,
    ...(body !== undefined ? { body } : {}),
  });
  if (expectStatus !== undefined ? response.statusCode !== expectStatus : response.statusCode >= 300) {
    throw new Error(`${method} ${path} answered ${response.statusCode}: ${response.body}`);
  }
  return response.json() as T;
}

/** Waits until a run satisfies `done` (by default: finished), polling the API. */
export async function waitForRun(
  t: TestServer,
  handle: string,
  done: (run: Run) => boolean = (run) => ['succeeded', 'failed', 'cancelled'].includes(run.state),
  timeoutMs = 120_000,
): Promise<Run> {
  const [app, number] = handle.split('/');
  const deadline = Date.now() + timeoutMs;
  let last: Run | undefined;
  while (Date.now() < deadline) {
    last = await api<Run>(t, 'GET', `/api/apps/${app}/runs/${number}`);
    if (done(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`run ${handle} did not get there in ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

/** The whole log of a run as text. */
export async function runLog(t: TestServer, handle: string): Promise<string> {
  const [app, number] = handle.split('/');
  const chunks = await api<{ text: string }[]>(t, 'GET', `/api/apps/${app}/runs/${number}/logs?limit=10000`);
  return chunks.map((c) => c.text).join('');
}

/** Waits until `check` returns a value. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting until ${what}`);
}
