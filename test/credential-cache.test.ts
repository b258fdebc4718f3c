import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadServerConfig, type RunningServer, startServer } from '../src/server/index.ts';
import { startTestServer, TEST_USER_PASSWORD, type TestServer } from '../src/server/testing.ts';

// Two control-plane replicas on one database, each caching resolved credentials.
let t: TestServer;
let replica: RunningServer;
beforeAll(async () => {
  t = await startTestServer();
  replica = await startServer(
    loadServerConfig({ databaseUrl: t.postgres.url, port: 0, logLevel: 'silent' }, {}),
  );
});
afterAll(async () => {
  await replica?.close();
  await t?.stop();
});

function onReplica(path: string, token: string) {
  return replica.app.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${token}` } });
}

async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

describe('credential cache across replicas', () => {
  test('a token revoked on one replica is refused by the other at once', async () => {
    const { token, value } = (
      await t.inject('POST', '/api/tokens', { token: t.adminToken, body: { name: 'shared' } })
    ).json();
    expect((await onReplica('/api/whoami', value)).statusCode).toBe(200); // cached on the replica now
    await t.inject('DELETE', `/api/tokens/${token.id}`, { token: t.adminToken });
    expect(await eventually(async () => (await onReplica('/api/whoami', value)).statusCode === 401)).toBe(
      true,
    );
  });

  test('a role granted on one replica is honoured by the other', async () => {
    const token = await t.userWithRoles('jill', []);
    expect((await onReplica('/api/users', token)).statusCode).toBe(403);
    await t.inject('POST', '/api/role-bindings', {
      token: t.adminToken,
      body: { subject: 'user:jill', role: 'viewer', scope: 'platform' },
    });
    expect(await eventually(async () => (await onReplica('/api/users', token)).statusCode === 200)).toBe(
      true,
    );
  });

  test('a change made by hand in SQL also invalidates (the triggers notify)', async () => {
    const token = await t.userWithRoles('kate', ['viewer@platform']);
    expect((await onReplica('/api/whoami', token)).statusCode).toBe(200);
    await t.server.store.pool.query(`UPDATE users SET is_disabled = true WHERE username = 'kate'`);
    expect(await eventually(async () => (await onReplica('/api/whoami', token)).statusCode === 401)).toBe(
      true,
    );
  });

  test('activity writes (last used, failed logins) do not empty the cache', async () => {
    const token = await t.userWithRoles('liam', []);
    await onReplica('/api/whoami', token);
    const { rows } = await t.server.store.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE state IS NOT NULL`,
    );
    expect(Number(rows[0]!.n)).toBeGreaterThan(0);
    await t.inject('POST', '/api/auth/login', { body: { username: 'liam', password: 'wrong-password' } });
    await t.inject('POST', '/api/auth/login', { body: { username: 'liam', password: TEST_USER_PASSWORD } });
    // Still served (and still correct) after activity-only writes.
    expect((await onReplica('/api/whoami', token)).statusCode).toBe(200);
  });

  test('while the listening connection is down nothing is cached, and revocation still holds', async () => {
    const { token, value } = (
      await t.inject('POST', '/api/tokens', { token: t.adminToken, body: { name: 'cut' } })
    ).json();
    expect((await onReplica('/api/whoami', value)).statusCode).toBe(200);
    // when: the database drops every LISTEN connection (as a network cut would)
    await t.server.store.pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN slipway_identity%' AND pid <> pg_backend_pid()`,
    );
    await t.inject('DELETE', `/api/tokens/${token.id}`, { token: t.adminToken });
    // then: the replica refuses the token (either the notification or the uncached path tells it)
    expect(await eventually(async () => (await onReplica('/api/whoami', value)).statusCode === 401)).toBe(
      true,
    );
  });
});
