import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadServerConfig, startServer } from '../src/server/index.ts';

const dirs: string[] = [];

/** Waits up to 5 s for a process to exit (a zombie waiting for its reaper counts as exited). */
async function processGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    if (stat === undefined || stat.split(') ')[1]?.startsWith('Z')) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('slipway server on the embedded store', () => {
  test('a restart keeps users, tokens, bindings and audit entries', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-restart-'));
    await chmod(dir, 0o711);
    dirs.push(dir);
    const config = loadServerConfig(
      { dataDir: join(dir, 'data'), port: 0, logLevel: 'silent', adminPassword: 'first-start-password' },
      {},
    );

    // given: a first start that creates things
    const first = await startServer(config);
    let token: string;
    try {
      expect(first.store.location).toContain('embedded PostgreSQL 15');
      const login = await first.app.inject({
        method: 'POST',
        url: '/api/auth/token',
        payload: { username: 'admin', password: 'first-start-password' },
      });
      token = login.json().value;
      const auth = { authorization: `Bearer ${token}` };
      expect(
        (
          await first.app.inject({
            method: 'POST',
            url: '/api/users',
            headers: auth,
            payload: { username: 'gina', password: 'gina-password-1' },
          })
        ).statusCode,
      ).toBe(201);
      expect(
        (
          await first.app.inject({
            method: 'POST',
            url: '/api/role-bindings',
            headers: auth,
            payload: { subject: 'user:gina', role: 'deployer', scope: 'environment:staging' },
          })
        ).statusCode,
      ).toBe(201);
    } finally {
      await first.close();
    }

    // when: it starts again on the same data directory
    const second = await startServer(config);
    try {
      // then: everything is there, and the cluster was reused, not re-created
      const auth = { authorization: `Bearer ${token}` };
      expect(second.generatedAdminPassword).toBeUndefined();
      expect(
        (await second.app.inject({ method: 'GET', url: '/api/whoami', headers: auth })).json().username,
      ).toBe('admin');
      const bindings = (
        await second.app.inject({ method: 'GET', url: '/api/role-bindings?subject=user:gina', headers: auth })
      ).json();
      expect(bindings).toMatchObject([
        { subject: 'user:gina', role: 'deployer', scope: 'environment:staging' },
      ]);
      const audit = (await second.app.inject({ method: 'GET', url: '/api/audit', headers: auth })).json();
      expect(audit.map((e: { action: string }) => e.action)).toEqual(
        expect.arrayContaining(['users.bootstrap-admin', 'auth.token', 'users.create', 'roles.grant']),
      );
      expect(
        (await second.app.inject({ method: 'GET', url: '/api/audit/verify', headers: auth })).json().ok,
      ).toBe(true);
      expect(second.startMs).toBeLessThan(10_000);
    } finally {
      await second.close();
    }
  });

  test('a second server on the same data directory is refused with the holder named', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-lock-'));
    await chmod(dir, 0o711);
    dirs.push(dir);
    const config = loadServerConfig({ dataDir: join(dir, 'data'), port: 0, logLevel: 'silent' }, {});
    const first = await startServer(config);
    try {
      expect(first.generatedAdminPassword).toMatch(/^[A-Za-z0-9_-]{24}$/);
      await expect(startServer(config)).rejects.toThrow(`Slipway server ${process.pid} is using it`);
    } finally {
      await first.close();
    }
  });

  test('the embedded cluster stops with the server: nothing is left listening', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-stop-'));
    await chmod(dir, 0o711);
    dirs.push(dir);
    const config = loadServerConfig({ dataDir: join(dir, 'data'), port: 0, logLevel: 'silent' }, {});
    const server = await startServer(config);
    const pid = await server.store.cluster!.postmasterPid();
    expect(pid).toBeGreaterThan(0);
    await server.close();
    expect(await processGone(pid!)).toBe(true);
  });
});
