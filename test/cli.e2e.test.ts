import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../src/server/testing.ts';
import { freePort } from '../src/store/testing.ts';
import { runCli } from './support/cli.ts';

let t: TestServer;
let home: string;
let env: Record<string, string>;
beforeAll(async () => {
  t = await startTestServer();
  home = await mkdtemp(join(tmpdir(), 'slipway-cli-'));
  env = { SLIPWAY_CONFIG: join(home, 'config.json'), SLIPWAY_URL: t.url };
});
afterAll(async () => {
  await t?.stop();
  await rm(home, { recursive: true, force: true });
});

describe('the slipway CLI against a running server', () => {
  test('login remembers a token in a private file; whoami uses it; logout revokes it', async () => {
    const login = await runCli(['login', '-u', 'admin', '--password-stdin'], {
      env,
      input: `${t.adminPassword}\n`,
    });
    expect(login.stderr).toBe('');
    expect(login.stdout).toMatch(new RegExp(`^Logged in to ${t.url} as admin`));
    expect((await stat(env.SLIPWAY_CONFIG!)).mode & 0o777).toBe(0o600);
    const whoami = await runCli(['whoami', '--json'], { env });
    expect(JSON.parse(whoami.stdout)).toMatchObject({
      username: 'admin',
      via: 'token',
      grants: [{ role: 'admin', scope: 'platform' }],
    });

    const logout = await runCli(['logout'], { env });
    expect(logout.stdout).toBe(`Logged out of ${t.url}\n`);
    const after = await runCli(['whoami'], { env });
    expect(after.code).toBe(3);
    expect(after.stderr).toBe(
      `Error: Not logged in to ${t.url}\nRun \`slipway login\`, or pass --token / set SLIPWAY_TOKEN\n`,
    );
  });

  test('users, groups, roles, tokens and audit commands, with --json listings', async () => {
    const admin = { ...env, SLIPWAY_TOKEN: t.adminToken };
    const created = await runCli(
      ['users', 'create', 'hank', '--email', 'hank@example.test', '--password-stdin'],
      {
        env: admin,
        input: 'hank-password-123\n',
      },
    );
    expect(created.stdout).toBe('Created user hank\n');
    const users = JSON.parse((await runCli(['users', 'list', '--json'], { env: admin })).stdout);
    expect(users.map((u: { username: string }) => u.username)).toEqual(
      expect.arrayContaining(['admin', 'hank']),
    );

    expect((await runCli(['groups', 'create', 'release-managers'], { env: admin })).code).toBe(0);
    expect((await runCli(['groups', 'add-member', 'release-managers', 'hank'], { env: admin })).code).toBe(0);
    const grant = await runCli(
      ['roles', 'grant', 'group:release-managers', 'deployer', '--scope', 'environment:staging'],
      { env: admin },
    );
    expect(grant.stdout).toBe('Granted deployer on environment:staging to group:release-managers\n');
    const bindings = JSON.parse(
      (await runCli(['roles', 'list', '--scope', 'environment:staging', '--json'], { env: admin })).stdout,
    );
    expect(bindings).toMatchObject([
      { subject: 'group:release-managers', role: 'deployer', scope: 'environment:staging' },
    ]);

    const token = await runCli(['tokens', 'create', 'deploy-bot', '--expires-in-days', '7'], { env: admin });
    expect(token.stdout).toMatch(/^slw_[0-9a-f]{32}_[A-Za-z0-9_-]{43}\n$/);
    const hankWhoami = JSON.parse(
      (await runCli(['whoami', '--json'], { env: { ...env, SLIPWAY_TOKEN: token.stdout.trim() } })).stdout,
    );
    expect(hankWhoami.username).toBe('admin');
    const tokens = JSON.parse((await runCli(['tokens', 'list', '--json'], { env: admin })).stdout);
    const bot = tokens.find((x: { name: string }) => x.name === 'deploy-bot');
    expect((await runCli(['tokens', 'revoke', bot.id], { env: admin })).stdout).toBe(
      `Revoked token ${bot.id}\n`,
    );

    const audit = JSON.parse(
      (await runCli(['audit', 'list', '--action', 'roles.', '--json'], { env: admin })).stdout,
    );
    expect(audit[0]).toMatchObject({
      actor: 'admin',
      action: 'roles.grant',
      target: 'group:release-managers',
      outcome: 'success',
    });
    expect((await runCli(['audit', 'verify'], { env: admin })).code).toBe(0);
    const status = JSON.parse((await runCli(['status', '--json'], { env: admin })).stdout);
    expect(status.store.reachable).toBe(true);
  });

  test('errors print the message, then the hint, and exit with the mapped code', async () => {
    const admin = { ...env, SLIPWAY_TOKEN: t.adminToken };
    const badRole = await runCli(['roles', 'grant', 'user:hank', 'superuser'], { env: admin });
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toContain(
      'Error: Cannot accept the request: body.role: Invalid option: expected one of "viewer"|"developer"|"deployer"|"admin"\n',
    );
    expect(badRole.stderr).toContain('Fix the fields listed in details, then send the request again\n');

    const missing = await runCli(['users', 'show', 'nobody'], { env: admin });
    expect(missing.code).toBe(5);
    expect(missing.stderr).toBe(
      'Error: Cannot find user "nobody"\nRun `slipway users list` to see existing users\n',
    );

    const port = await freePort();
    const unreachable = await runCli(['status'], {
      env: { ...admin, SLIPWAY_URL: `http://127.0.0.1:${port}` },
    });
    expect(unreachable.code).toBe(8);
    expect(unreachable.stderr).toBe(
      `Error: Cannot reach the Slipway server at http://127.0.0.1:${port}\nStart it with \`slipway server\`, or point the CLI at it with --server or SLIPWAY_URL\n`,
    );

    const noStdin = await runCli(['users', 'create', 'ivy'], { env: admin });
    expect(noStdin.code).toBe(2);
    expect(noStdin.stderr).toContain(
      'Error: Cannot ask for a password: standard input is not a terminal\nPipe the password in and add --password-stdin\n',
    );
  });
});

describe('slipway server as a process', () => {
  test('starts on a data directory, answers /healthz and /readyz, and stops cleanly on SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-proc-'));
    await chmod(dir, 0o711);
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        new URL('../bin/slipway.js', import.meta.url).pathname,
        'server',
        '--data-dir',
        join(dir, 'data'),
        '--port',
        String(port),
        '--log-level',
        'warn',
      ],
      {
        env: { PATH: process.env.PATH ?? '', HOME: home, SLIPWAY_ADMIN_PASSWORD: 'process-admin-password' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 30_000);
        child.stderr.on('data', () => {
          if (stderr.includes('is ready')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      expect(stderr).toMatch(
        new RegExp(
          `Slipway http://127\\.0\\.0\\.1:${port} is ready \\(started in \\d+ ms; embedded PostgreSQL 15 in `,
        ),
      );
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('slipway demo --check ships the reference app through the whole flow, verifies every stage and exits 0', async () => {
    const result = await runCli(['demo', '--check'], { env: { HOME: home }, timeoutMs: 1_200_000 });
    expect(result.stdout).not.toContain('FAILED');
    expect(result.stdout).toContain('demo check passed');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    // The main job, stage by stage: a push built, deployed and tested on integration, staging told, staging deployed.
    expect(result.stdout).toMatch(/deploy-integration: succeeded/);
    expect(result.stdout).toMatch(/integration-tests: succeeded/);
    expect(result.stdout).toMatch(/notify: succeeded/);
    expect(result.stdout).toMatch(/ok \(\d+ ms\) — "laravel-app \S+ passed integration: ready for staging"/);
    expect(result.stdout).toMatch(/ok \(\d+ ms\) — deployment #\d+: \S+ on http:\/\/127\.0\.0\.1:\d+/);
  }, 1_250_000);
});
