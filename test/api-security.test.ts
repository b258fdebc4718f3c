import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Role, roleRank } from '../src/core/index.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';
import { MATRIX, type MatrixContext } from './role-matrix/index.ts';

// The reviewed allow-list of routes anyone may call without credentials. Adding to it is a
// security decision: say why next to the entry.
const PUBLIC_ROUTES = new Set([
  'GET /healthz', // liveness probe for load balancers
  'GET /readyz', // readiness probe
  'GET /metrics', // Prometheus scrape; behind SLIPWAY_METRICS_TOKEN when set
  'POST /api/auth/login', // the way in (rate limited, backoff per account)
  'POST /api/auth/token', // the CLI's way in (same limits)
  'POST /api/webhooks/:app', // git hosts and the post-receive hook: each call is checked by its HMAC signature or token
]);

function isStaticConsoleFile(method: string, url: string): boolean {
  return (
    (method === 'GET' || method === 'HEAD') &&
    (url === '/' || /^\/(index\.html|assets\/.+|favicon\.\w+|[\w.-]+\.(svg|png|ico|css|js))$/.test(url))
  );
}

function concrete(url: string): string {
  return url
    .replace(':id', randomUUID())
    .replace(/:[A-Za-z]+/g, 'someone')
    .replace('*', 'x');
}

let t: TestServer;
const context = (): MatrixContext => ({
  admin: (method, path, body) => t.inject(method, path, { token: t.adminToken, body }),
  server: t,
});
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

describe('authentication is required everywhere but the allow-list', () => {
  test('every registered route refuses an unauthenticated call with 401', async () => {
    const routes = t.server.registeredRoutes.filter((r) => r.method !== 'OPTIONS');
    expect(routes.length).toBeGreaterThan(25);
    const checked: string[] = [];
    for (const { method, url } of routes) {
      const key = `${method} ${url}`;
      if (PUBLIC_ROUTES.has(key) || PUBLIC_ROUTES.has(`GET ${url}`) || isStaticConsoleFile(method, url))
        continue;
      const response = await t.inject(
        method,
        concrete(url),
        method === 'GET' || method === 'HEAD' ? {} : { body: {} },
      );
      expect({ key, status: response.statusCode }).toStrictEqual({ key, status: 401 });
      if (method !== 'HEAD') expect(response.json().error.code).toBe('UNAUTHENTICATED');
      checked.push(key);
    }
    expect(checked).toContain('GET /api/whoami');
    expect(checked).toContain('GET /api/openapi.json');
    expect(checked).toContain('POST /api/users');
  });

  test('a bad, revoked or expired token is refused the same way', async () => {
    const bad = await t.inject('GET', '/api/whoami', { token: `slw_${'0'.repeat(32)}_${'A'.repeat(43)}` });
    expect(bad.statusCode).toBe(401);
    expect(bad.json().error.message).toBe('The API token is not valid');

    const created = await t.inject('POST', '/api/tokens', {
      token: t.adminToken,
      body: { name: 'to-revoke' },
    });
    const { token, value } = created.json();
    expect((await t.inject('GET', '/api/whoami', { token: value })).statusCode).toBe(200);
    await t.inject('DELETE', `/api/tokens/${token.id}`, { token: t.adminToken });
    const revoked = await t.inject('GET', '/api/whoami', { token: value });
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json().error.message).toBe('The API token was revoked');
  });

  test('an unauthenticated write is audited as denied', async () => {
    await t.inject('POST', '/api/groups', { body: { name: 'sneaky' } });
    const entries = await t.inject('GET', '/api/audit?action=groups.create&outcome=denied', {
      token: t.adminToken,
    });
    expect(entries.json()[0]).toMatchObject({
      actor: 'anonymous',
      outcome: 'denied',
      details: { error: 'UNAUTHENTICATED' },
    });
  });
});

// ---- Role matrix ---------------------------------------------------------------------------
// Each module lists its role-guarded routes and a case per route in test/role-matrix/<module>.ts.
const ROLES_UNDER_TEST: Role[] = ['viewer', 'developer', 'deployer', 'admin'];
const SCOPES_UNDER_TEST = ['platform', 'environment:staging', 'environment:production'];

/** The rule under test, written independently of the implementation. */
function expectedAllowed(held: { role: Role; scope: string }, needs: { role: Role; scope: string }): boolean {
  const scopeCovers = held.scope === 'platform' || held.scope === needs.scope;
  return scopeCovers && roleRank(held.role) >= roleRank(needs.role);
}

describe('role matrix: each role on each scope', () => {
  test('every route with a role requirement is covered by the matrix', () => {
    const covered = new Set(MATRIX.flatMap((m) => m.covers));
    const withRoles = t.server.routes
      .filter((r) => typeof r.access === 'object')
      .map((r) => `${r.method} ${r.path}`);
    expect(withRoles.filter((key) => !covered.has(key))).toStrictEqual([]);
  });

  test('allowed calls succeed and every other call returns 403, audited for writes', async () => {
    const holders: { role: Role; scope: string; token: string }[] = [];
    for (const role of ROLES_UNDER_TEST) {
      for (const scope of SCOPES_UNDER_TEST) {
        const username = `m-${role}-${scope.replace('environment:', '')}`;
        holders.push({ role, scope, token: await t.userWithRoles(username, [`${role}@${scope}`]) });
      }
    }
    const nobody = await t.userWithRoles('m-nobody', []);
    let n = 0;
    const failures: string[] = [];
    for (const c of MATRIX.flatMap((m) => m.cases(context()))) {
      for (const holder of [...holders, { role: 'viewer' as Role, scope: 'none', token: nobody }]) {
        n += 1;
        const request = await c.request(n);
        const response = await t.inject(request.method, request.path, {
          token: holder.token,
          body: request.body,
        });
        const allowed = holder.scope !== 'none' && expectedAllowed(holder, c.needs);
        const ok = allowed
          ? c.allowedStatus !== undefined
            ? [c.allowedStatus].flat().includes(response.statusCode)
            : response.statusCode >= 200 && response.statusCode < 300
          : response.statusCode === 403;
        if (!ok)
          failures.push(
            `${c.name} as ${holder.role}@${holder.scope}: ${response.statusCode} ${response.body.slice(0, 160)}`,
          );
      }
    }
    expect(failures).toStrictEqual([]);
    const denied = await t.inject('GET', '/api/audit?outcome=denied&actor=m-deployer-staging&limit=1000', {
      token: t.adminToken,
    });
    expect(denied.json().length).toBeGreaterThan(0);
    expect(denied.json()[0].details.error).toBe('FORBIDDEN');
  }, 600_000); // every module's cases for 13 role holders: a few thousand requests
});

describe('bad input gets a 400 with field paths and changes nothing', () => {
  async function userCount(): Promise<number> {
    return (await t.inject('GET', '/api/users', { token: t.adminToken })).json().length;
  }

  test('malformed JSON', async () => {
    const before = await userCount();
    const response = await t.inject('POST', '/api/users', {
      token: t.adminToken,
      body: '{"username": "x", ',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({
      code: 'INVALID_INPUT',
      message: 'Cannot read the request body: it is not valid JSON',
    });
    expect(await userCount()).toBe(before);
  });

  test('wrong types and unknown fields are each reported with their path', async () => {
    const before = await userCount();
    const response = await t.inject('POST', '/api/users', {
      token: t.adminToken,
      body: { username: 42, password: 'a-long-password-1', isAdmin: true },
    });
    expect(response.statusCode).toBe(400);
    const { error } = response.json();
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.details).toStrictEqual([
      { path: 'body.username', message: 'Invalid input: expected string, received number' },
      { path: 'body', message: 'Unrecognized key: "isAdmin"' },
    ]);
    expect(error.hint).toBe('Fix the fields listed in details, then send the request again');
    expect(await userCount()).toBe(before);
  });

  test('an oversized body', async () => {
    const before = await userCount();
    const response = await t.inject('POST', '/api/users', {
      token: t.adminToken,
      body: { username: 'big', password: 'a-long-password-1', displayName: 'x'.repeat(2 * 1024 * 1024) },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({
      code: 'INVALID_INPUT',
      details: [{ path: 'body', message: 'too large' }],
    });
    expect(await userCount()).toBe(before);
  });

  test('a rejected request leaves no half-written state (a failing grant rolls back)', async () => {
    const bindingsBefore = (await t.inject('GET', '/api/role-bindings', { token: t.adminToken })).json()
      .length;
    const response = await t.inject('POST', '/api/role-bindings', {
      token: t.adminToken,
      body: { subject: 'user:does-not-exist', role: 'admin', scope: 'platform' },
    });
    expect(response.statusCode).toBe(404);
    expect(response.json().error.message).toBe('Cannot find user "does-not-exist"');
    expect((await t.inject('GET', '/api/role-bindings', { token: t.adminToken })).json().length).toBe(
      bindingsBefore,
    );
  });

  test('unknown routes answer 404 in the error format', async () => {
    const response = await t.inject('GET', '/api/nothing-here', { token: t.adminToken });
    expect(response.statusCode).toBe(404);
    expect(response.json().error).toMatchObject({
      code: 'NOT_FOUND',
      message: 'No route for GET /api/nothing-here',
    });
    expect(response.json().error.requestId).toBe(response.headers['x-request-id']);
  });
});
