import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type BuildUser,
  baseBuildEnvironment,
  ensureBuildUser,
  makeBuildDirectory,
  runInSandbox,
  type SandboxSpec,
} from './sandbox.ts';

let root: string;
let user: BuildUser;
let spec: SandboxSpec;
let listener: Server;
let port: number;

async function sh(command: string, overrides: Partial<SandboxSpec> = {}, timeoutMs = 20_000) {
  let output = '';
  const result = await runInSandbox(
    { ...spec, ...overrides },
    {
      command,
      env: baseBuildEnvironment({ cacheDir: spec.cacheDir }),
      timeoutMs,
      onOutput: (text) => {
        output += text;
      },
    },
  );
  return { ...result, output };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'slipway-sandbox-'));
  await chmod(root, 0o711);
  user = await ensureBuildUser();
  const dataDir = join(root, 'data');
  await mkdir(dataDir, { mode: 0o711 });
  await writeFile(join(dataDir, 'signing-key.asc'), 'PRIVATE KEY\n', { mode: 0o644 });
  const other = join(root, 'builds', 'other-run', 'workspace');
  await makeBuildDirectory(other, user);
  await writeFile(join(other, 'their-secret.txt'), 'theirs\n');
  const workspace = join(root, 'builds', 'this-run', 'workspace');
  const cacheDir = join(root, 'caches', 'app');
  await makeBuildDirectory(workspace, user);
  await makeBuildDirectory(cacheDir, user);
  await chmod(join(root, 'builds'), 0o711);
  await chmod(join(root, 'builds', 'this-run'), 0o711);
  await chmod(join(root, 'caches'), 0o711);
  spec = { workspace, cacheDir, cwd: '/workspace', network: 'denied', user, hidden: [dataDir] };
  listener = createServer((socket) => socket.end('hello\n'));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  port = (listener.address() as { port: number }).port;
});
afterAll(async () => {
  listener?.close();
  await rm(root, { recursive: true, force: true });
});

describe('runInSandbox()', () => {
  test('runs as the unprivileged build user, in the workspace, writing files that user owns', async () => {
    const result = await sh('id -un; id -u; pwd; echo built > out.txt; echo $HOME $npm_config_cache');
    expect(result.exitCode).toBe(0);
    const [name, uid, cwd, env] = result.output.trim().split('\n');
    if (process.getuid?.() === 0) {
      expect(name).toBe('slipway-build');
      expect(Number(uid)).not.toBe(0);
    }
    expect(cwd).toBe('/workspace');
    expect(env).toBe('/tmp /cache/npm');
    expect((await stat(join(spec.workspace, 'out.txt'))).uid).toBe(user.uid);
  });

  test("sees no data directory, no other workspace and nothing of the host's own files", async () => {
    const result = await sh(
      `ls /; for p in ${root}/data/signing-key.asc ${root}/builds/other-run/workspace/their-secret.txt /root /home /var/lib /work; do test -e "$p" && echo "VISIBLE $p"; done; true`,
    );
    expect(result.exitCode).toBe(0);
    const entries = result.output.split('\n').filter((line) => line && !line.startsWith('VISIBLE'));
    expect(entries.sort()).toStrictEqual(
      [
        'bin',
        'cache',
        'dev',
        'etc',
        'lib',
        'lib64',
        'proc',
        'run',
        'sbin',
        'tmp',
        'usr',
        'var',
        'workspace',
      ].filter((dir) => dir !== 'lib64' || entries.includes('lib64')),
    );
    expect(result.output).not.toContain('VISIBLE');
  });

  test('with the network denied only a private loopback exists; allowed reaches the host', async () => {
    const probe = `node -e "require('net').connect(${port}, '127.0.0.1').on('data', d => { process.stdout.write(String(d)); process.exit(0) }).on('error', e => { console.log(e.code); process.exit(0) })"`;
    expect((await sh(probe)).output.trim()).toBe('ECONNREFUSED');
    expect((await sh(probe, { network: 'allowed' })).output.trim()).toBe('hello');
  });

  test('a timeout kills the whole sandbox at once', async () => {
    const started = Date.now();
    const result = await sh('sleep 30 & sleep 30; echo never', {}, 500);
    expect(result.timedOut).toBe(true);
    expect(result.output).not.toContain('never');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test('an abort stops it too, and a failing command reports its status', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const aborted = await runInSandbox(spec, {
      command: 'sleep 30',
      env: {},
      timeoutMs: 30_000,
      signal: controller.signal,
      onOutput: () => undefined,
    });
    expect(aborted.aborted).toBe(true);
    expect((await sh('exit 3')).exitCode).toBe(3);
  });
});
