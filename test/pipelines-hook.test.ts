/**
 * The post-receive hook keeps its secret off every command line and environment: the secret is in a
 * 0600 file beside the hook, the HMAC is computed with shell builtins, and openssl and curl only read
 * files. Checked three ways: the signature it sends is Slipway's HMAC for any key; every command it
 * runs, recorded through wrappers that are the only commands on its PATH, never sees the secret; and a
 * real `git push` through the CLI-installed hook, traced with strace, starts a run.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { randomToken } from '../src/core/index.ts';
import {
  HOOK_MARKER,
  HOOK_SECRET_FILE,
  installPostReceiveHook,
  type Run,
  webhookSignature,
} from '../src/pipelines/index.ts';
import {
  api,
  git,
  makeRepository,
  type PipelineTestServer,
  startPipelineServer,
  type TestRepository,
  tinyApp,
  waitForRun,
} from './pipelines-support.ts';
import { runCli } from './support/cli.ts';

const execFileAsync = promisify(execFile);
const ZERO = '0'.repeat(40);
/** The external commands the hook runs (everything else is a shell builtin). */
const HOOK_COMMANDS = ['cat', 'curl', 'cut', 'mktemp', 'od', 'openssl', 'rm', 'sed', 'wc'];

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

let root: string;
let receiver: Server;
let receiverUrl: string;
const received: Received[] = [];

/** Runs an installed hook the way git does: in the bare repository, the ref updates on standard input. */
function runHook(
  gitDir: string,
  input: string,
  env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['hooks/post-receive'], { cwd: gitDir, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

async function bareRepository(name: string): Promise<string> {
  const dir = join(root, name);
  await git(root, 'init', '--quiet', '--bare', dir);
  return dir;
}

function refLine(): string {
  return `${ZERO} ${randomBytes(20).toString('hex')} refs/heads/master\n`;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'slipway-hook-'));
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(202, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({ accepted: true, message: 'Run web/1 queued for 0123456789ab', runs: [] }),
      );
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => receiver?.close(resolve));
  await rm(root, { recursive: true, force: true });
});

describe('slipway apps hook install', () => {
  test('writes the secret to a 0600 file beside the hook, never into the script', async () => {
    const gitDir = await bareRepository('layout.git');
    const secret = `whk_${randomToken(32)}`;
    const path = await installPostReceiveHook(gitDir, { url: receiverUrl, app: 'web', secret });
    expect(path).toBe(join(gitDir, 'hooks', 'post-receive'));
    const script = await readFile(path, 'utf8');
    expect(script).toContain(HOOK_MARKER);
    expect(script).not.toContain(secret);
    expect((await stat(path)).mode & 0o777).toBe(0o755);
    const keyFile = join(gitDir, 'hooks', HOOK_SECRET_FILE);
    expect(await readFile(keyFile, 'utf8')).toBe(secret);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);

    // Installed again (a new secret): both files replaced, nothing left beside them.
    const next = `whk_${randomToken(32)}`;
    await installPostReceiveHook(gitDir, { url: receiverUrl, app: 'web', secret: next });
    expect(await readFile(keyFile, 'utf8')).toBe(next);
    const { stdout } = await execFileAsync('ls', ['-A', join(gitDir, 'hooks')]);
    expect(stdout.split('\n').filter((f) => f.includes('slipway-') && f !== HOOK_SECRET_FILE)).toStrictEqual(
      [],
    );
  });

  test("the hook's signature is Slipway's HMAC-SHA256 of the body, for keys of any length and byte", async () => {
    const gitDir = await bareRepository('signature.git');
    const keys = [
      `whk_${randomToken(32)}`,
      // Characters whose XOR with the pads gives NUL, "%" and "\" (0x36 "6", 0x5c "\", "y", "j").
      'whk_666666jjjjjyyyyy\\\\%%%-_AZaz09',
      'k'.repeat(64),
      randomBytes(100).toString('base64'), // longer than the block: hashed first
      'x',
    ];
    for (const secret of keys) {
      await installPostReceiveHook(gitDir, { url: receiverUrl, app: 'web', secret });
      const body = `${refLine()}${refLine()}`;
      const before = received.length;
      const result = await runHook(gitDir, body);
      expect(result).toMatchObject({ code: 0, stdout: 'slipway: Run web/1 queued for 0123456789ab\n' });
      expect(received.length).toBe(before + 1);
      const request = received.at(-1)!;
      expect(request.body.toString()).toBe(body);
      expect(request.headers['content-type']).toBe('text/plain');
      expect({ secret, signature: request.headers['x-slipway-signature'] }).toStrictEqual({
        secret,
        signature: `sha256=${webhookSignature(secret, body)}`,
      });
    }
  });

  test('no command the hook runs gets the secret in its arguments or environment', async () => {
    // given: a PATH holding only wrappers that record their argv and environment, then run the real command
    const gitDir = await bareRepository('argv.git');
    const secret = `whk_${randomToken(32)}`;
    await installPostReceiveHook(gitDir, { url: receiverUrl, app: 'web', secret });
    const wrappers = join(root, 'wrappers');
    // One record file per wrapped process: commands of one pipeline run at once, and appends to a
    // shared file would interleave their lines.
    const records = join(root, 'argv');
    await mkdir(wrappers, { recursive: true });
    await mkdir(records, { recursive: true });
    for (const command of HOOK_COMMANDS) {
      const real = (await execFileAsync('sh', ['-c', `command -v ${command}`])).stdout.trim();
      await writeFile(
        join(wrappers, command),
        `#!/bin/sh\n{ printf 'exec:'; printf ' %s' "$0" "$@"; printf '\\n'; /usr/bin/env; } > '${records}/'"$$"'.log'\nexec '${real}' "$@"\n`,
        { mode: 0o755 },
      );
    }
    // when
    const body = refLine();
    const result = await runHook(gitDir, body, { PATH: wrappers, HOME: '/nonexistent' });
    // then: it worked with nothing but the wrapped commands, and none of them saw the secret
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(received.at(-1)!.headers['x-slipway-signature']).toBe(`sha256=${webhookSignature(secret, body)}`);
    const recorded = (
      await Promise.all((await readdir(records)).map((file) => readFile(join(records, file), 'utf8')))
    ).join('');
    const ran = new Set([...recorded.matchAll(/^exec: \S+\/(\S+)/gm)].map((m) => m[1]));
    expect([...ran].sort()).toStrictEqual(HOOK_COMMANDS);
    expect(recorded).toMatch(/^exec: \S+\/curl .*-H @\S+\/headers --data-binary @\S+\/body /m);
    expect(recorded).not.toContain(secret);
    expect(recorded).not.toContain(secret.slice(4, 24));
  });
});

describe('a push through the installed hook', () => {
  let t: PipelineTestServer;
  let repo: TestRepository;
  beforeAll(async () => {
    t = await startPipelineServer();
    repo = await makeRepository();
    await repo.commit(tinyApp('hooked'));
  });
  afterAll(async () => {
    await t?.stopAll();
    await repo?.remove();
  });

  // strace comes with scripts/setup.sh; without it this test fails rather than skip.
  test('starts a run, and no process of the push has the secret on its command line or environment (strace)', async () => {
    // given: the app, and the hook installed by the CLI
    await api(t, 'POST', '/api/apps', { name: 'hooked', repository: repo.bare });
    const env = { SLIPWAY_URL: t.url, SLIPWAY_TOKEN: t.adminToken };
    const installed = await runCli(['apps', 'hook', 'install', 'hooked', '--git-dir', repo.bare], { env });
    expect(installed.code).toBe(0);
    const secret = await readFile(join(repo.bare, 'hooks', HOOK_SECRET_FILE), 'utf8');
    expect(secret).toMatch(/^whk_\S{40,}$/);
    // when: a push to master, every execve of every process traced with its arguments and environment
    const trace = join(root, 'push.strace');
    const commit = await git(repo.work, 'rev-parse', 'HEAD');
    const { stderr } = await execFileAsync(
      'strace',
      [
        '-f',
        '-qq',
        '-v',
        '-s',
        '65536',
        '-e',
        'trace=execve',
        '-o',
        trace,
        'git',
        'push',
        '--quiet',
        'origin',
        'HEAD:refs/heads/master',
      ],
      {
        cwd: repo.work,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: '/nonexistent',
          GIT_CONFIG_GLOBAL: '/dev/null',
        },
      },
    ).catch((error) => error);
    // then
    expect(stderr).toContain(`slipway: Run hooked/1 queued for ${commit.slice(0, 12)}`);
    const run = await waitForRun(t, 'hooked/1');
    expect(run).toMatchObject<Partial<Run>>({ state: 'succeeded', trigger: 'git-hook', commit });
    const traced = await readFile(trace, 'utf8');
    expect(traced).toMatch(/execve\("[^"]*hooks\/post-receive"/);
    expect(traced).toMatch(/execve\("[^"]*\/openssl", \["openssl", "dgst", "-sha256", "-binary"\]/);
    expect(traced).toMatch(/execve\("[^"]*\/curl", \["curl"/);
    expect(traced).not.toContain(secret);
    expect(traced).not.toContain(secret.slice(4, 24));
  });
});

test('a hook whose secret file cannot be read says so and lets the push through', async () => {
  const gitDir = await bareRepository('unreadable.git');
  await installPostReceiveHook(gitDir, { url: receiverUrl, app: 'web', secret: `whk_${randomToken(32)}` });
  await rm(join(gitDir, 'hooks', HOOK_SECRET_FILE));
  const before = received.length;
  const result = await runHook(gitDir, refLine());
  expect(result).toStrictEqual({
    code: 0,
    stdout: '',
    stderr: `slipway: cannot read hooks/${HOOK_SECRET_FILE}: reinstall the hook with \`slipway apps hook install web\`\n`,
  });
  expect(received.length).toBe(before);
});
