import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, TEST_USER_PASSWORD, type TestServer } from '../src/server/testing.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

async function login(username: string, password: string) {
  return t.inject('POST', '/api/auth/login', { body: { username, password } });
}

function sessionCookie(response: Awaited<ReturnType<typeof login>>): string {
  const cookie = response.cookies.find((c) => c.name === 'slipway_session');
  if (!cookie) throw new Error('no session cookie');
  return `slipway_session=${cookie.value}`;
}

describe('console sessions', () => {
  test('login sets an HttpOnly, SameSite=Strict cookie and returns a CSRF token', async () => {
    const response = await login('admin', t.adminPassword);
    expect(response.statusCode).toBe(200);
    const cookie = response.cookies.find((c) => c.name === 'slipway_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(cookie.secure).toBeFalsy(); // plain HTTP on loopback; Secure is set under TLS
    expect(response.json().csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const whoami = await t.inject('GET', '/api/whoami', { headers: { cookie: sessionCookie(response) } });
    expect(whoami.json()).toMatchObject({ username: 'admin', via: 'session' });
  });

  test('a cookie-authenticated write without the CSRF token is refused and changes nothing', async () => {
    const response = await login('admin', t.adminPassword);
    const cookie = sessionCookie(response);
    const refused = await t.inject('POST', '/api/groups', {
      headers: { cookie },
      body: { name: 'csrf-victim' },
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.message).toBe('Not allowed: the CSRF token is missing or wrong');
    const wrong = await t.inject('POST', '/api/groups', {
      headers: { cookie, 'x-csrf-token': 'x'.repeat(43) },
      body: { name: 'csrf-victim' },
    });
    expect(wrong.statusCode).toBe(403);
    const groups = (await t.inject('GET', '/api/groups', { token: t.adminToken })).json();
    expect(groups.map((g: { name: string }) => g.name)).not.toContain('csrf-victim');
    const allowed = await t.inject('POST', '/api/groups', {
      headers: { cookie, 'x-csrf-token': response.json().csrfToken },
      body: { name: 'csrf-ok' },
    });
    expect(allowed.statusCode).toBe(201);
  });

  test('logout ends the session', async () => {
    const response = await login('admin', t.adminPassword);
    const cookie = sessionCookie(response);
    const out = await t.inject('POST', '/api/auth/logout', {
      headers: { cookie, 'x-csrf-token': response.json().csrfToken },
    });
    expect(out.statusCode).toBe(200);
    expect((await t.inject('GET', '/api/whoami', { headers: { cookie } })).statusCode).toBe(401);
  });

  test('a session expires after its time to live', async () => {
    const short = await startTestServer({ sessionTtl: '1s' });
    try {
      const response = await short.inject('POST', '/api/auth/login', {
        body: { username: 'admin', password: short.adminPassword },
      });
      const cookie = sessionCookie(response);
      expect((await short.inject('GET', '/api/whoami', { headers: { cookie } })).statusCode).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1200));
      const expired = await short.inject('GET', '/api/whoami', { headers: { cookie } });
      expect(expired.statusCode).toBe(401);
      expect(expired.json().error.message).toBe('The session has expired; log in again');
    } finally {
      await short.stop();
    }
  });
});

describe('login protection', () => {
  test('a wrong password and an unknown user get the same answer', async () => {
    await t.userWithRoles('carol', []);
    const wrong = await login('carol', 'not-the-password');
    const unknown = await login('nobody-at-all', 'not-the-password');
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.json().error.message).toBe(unknown.json().error.message);
    expect(wrong.json().error.message).toBe('Cannot log in: the username or password is wrong');
  });

  test('after five failures the account waits, even for the right password, and says how long', async () => {
    await t.userWithRoles('dave', []);
    for (let i = 0; i < 5; i++) expect((await login('dave', 'wrong-password')).statusCode).toBe(401);
    const locked = await login('dave', TEST_USER_PASSWORD);
    expect(locked.statusCode).toBe(429);
    expect(locked.json().error.message).toMatch(
      /^Cannot log in yet: too many failed attempts; try again in \d+ s$/,
    );
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await login('dave', TEST_USER_PASSWORD)).statusCode).toBe(200);
  });

  test('each source address is rate limited on the login routes', async () => {
    const limited = await startTestServer({ loginRateLimit: 3 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        statuses.push(
          (await limited.inject('POST', '/api/auth/login', { body: { username: 'x1', password: 'y' } }))
            .statusCode,
        );
      }
      // startTestServer used one attempt for its own token through /api/auth/token (a separate route limit)
      expect(statuses).toStrictEqual([401, 401, 401, 429, 429]);
    } finally {
      await limited.stop();
    }
  });

  test('a disabled user cannot log in and their tokens stop working; enabling restores them', async () => {
    const token = await t.userWithRoles('erin', ['viewer@platform']);
    expect((await t.inject('POST', '/api/users/erin/disable', { token: t.adminToken })).statusCode).toBe(200);
    expect((await t.inject('GET', '/api/whoami', { token })).json().error.message).toBe(
      'User "erin" is disabled',
    );
    expect((await login('erin', TEST_USER_PASSWORD)).json().error.message).toBe(
      'Cannot log in: user "erin" is disabled',
    );
    await t.inject('POST', '/api/users/erin/enable', { token: t.adminToken });
    expect((await t.inject('GET', '/api/whoami', { token })).statusCode).toBe(200);
  });

  test('an administrator cannot disable themselves', async () => {
    const response = await t.inject('POST', '/api/users/admin/disable', { token: t.adminToken });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toBe('Cannot disable your own account');
  });
});

describe('personal API tokens', () => {
  test('the value is shown once, only a hash is stored, and expiry is enforced', async () => {
    const created = await t.inject('POST', '/api/tokens', {
      token: t.adminToken,
      body: { name: 'ci', expiresInDays: 1 },
    });
    expect(created.statusCode).toBe(201);
    const { value, token } = created.json();
    const listed = await t.inject('GET', '/api/tokens', { token: t.adminToken });
    expect(listed.body).not.toContain(value.split('_')[2]);
    expect(listed.json().find((x: { id: string }) => x.id === token.id).expiresAt).toBe(token.expiresAt);
    const { rows } = await t.server.store.pool.query('SELECT secret_hash FROM api_tokens WHERE id = $1', [
      token.id,
    ]);
    expect(rows[0].secret_hash.toString('hex')).not.toContain(Buffer.from(value).toString('hex'));
    await t.server.store.pool.query(
      `UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`,
      [token.id],
    );
    const expired = await t.inject('GET', '/api/whoami', { token: value });
    expect(expired.statusCode).toBe(401);
    expect(expired.json().error.message).toBe('The API token has expired');
  });

  test("a user cannot revoke somebody else's token", async () => {
    const other = await t.userWithRoles('frank', []);
    const mine = (
      await t.inject('POST', '/api/tokens', { token: t.adminToken, body: { name: 'mine' } })
    ).json();
    const response = await t.inject('DELETE', `/api/tokens/${mine.token.id}`, { token: other });
    expect(response.statusCode).toBe(404);
    expect((await t.inject('GET', '/api/whoami', { token: mine.value })).statusCode).toBe(200);
  });
});

describe('audit entries never carry secrets', () => {
  test('passwords and token values do not appear in the audit log', async () => {
    const created = (
      await t.inject('POST', '/api/tokens', { token: t.adminToken, body: { name: 'audit-check' } })
    ).json();
    const entries = await t.inject('GET', '/api/audit?limit=1000', { token: t.adminToken });
    expect(entries.body).not.toContain(t.adminPassword);
    expect(entries.body).not.toContain(TEST_USER_PASSWORD);
    expect(entries.body).not.toContain(created.value);
  });
});

describe('stale credentials', () => {
  test('an expired or forged session cookie does not stop a new login', async () => {
    const response = await t.inject('POST', '/api/auth/login', {
      body: { username: 'admin', password: t.adminPassword },
      headers: { cookie: `slipway_session=sws_${'0'.repeat(32)}_${'A'.repeat(43)}` },
    });
    expect(response.statusCode).toBe(200);
  });
});
