import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../src/server/testing.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

describe('the HTTP surface', () => {
  test('the OpenAPI document describes every route, with its schemas and access', async () => {
    const response = await t.inject('GET', '/api/openapi.json', { token: t.adminToken });
    expect(response.statusCode).toBe(200);
    const doc = response.json();
    expect(doc.openapi).toBe('3.0.3');
    for (const route of t.server.routes) {
      const path = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      expect(doc.paths[path]?.[route.method.toLowerCase()], `${route.method} ${route.path}`).toBeDefined();
    }
    const createUser = doc.paths['/api/users'].post;
    expect(createUser.requestBody.content['application/json'].schema).toMatchObject({
      type: 'object',
      required: ['username', 'password'],
      additionalProperties: false,
    });
    expect(createUser['x-slipway-access']).toStrictEqual({ role: 'admin', scope: { kind: 'platform' } });
    expect(doc.paths['/healthz'].get.security).toStrictEqual([]);
  });

  test('/metrics exposes request durations by route template and status, and process metrics', async () => {
    await t.inject('GET', '/api/users/admin', { token: t.adminToken });
    await t.inject('GET', '/api/users/nobody', { token: t.adminToken });
    const text = (await t.inject('GET', '/metrics')).body;
    expect(text).toMatch(
      /slipway_http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/api\/users\/:username",status="200"\} \d+/,
    );
    expect(text).toMatch(
      /slipway_http_request_duration_seconds_count\{method="GET",route="\/api\/users\/:username",status="404"\} 1/,
    );
    expect(text).toContain('slipway_process_resident_memory_bytes');
  });

  test('/metrics can require a scrape token', async () => {
    const guarded = await startTestServer({ metricsToken: 'scrape-token-0123456789' });
    try {
      expect((await guarded.inject('GET', '/metrics')).statusCode).toBe(401);
      const ok = await guarded.inject('GET', '/metrics', {
        headers: { authorization: 'Bearer scrape-token-0123456789' },
      });
      expect(ok.statusCode).toBe(200);
    } finally {
      await guarded.stop();
    }
  });

  test('a request id is echoed (or made) and security headers are set', async () => {
    const given = await t.inject('GET', '/healthz', { headers: { 'x-request-id': 'trace-123' } });
    expect(given.headers['x-request-id']).toBe('trace-123');
    const made = await t.inject('GET', '/healthz', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(made.headers['x-frame-options']).toBe('DENY');
    expect(made.headers['content-security-policy']).toContain("default-src 'self'");
  });

  test('an internal error answers a generic message with the request id, never the cause', async () => {
    await t.server.store.pool.query('ALTER TABLE groups RENAME TO groups_moved');
    try {
      const response = await t.inject('GET', '/api/groups', { token: t.adminToken });
      expect(response.statusCode).toBe(500);
      expect(response.json().error).toStrictEqual({
        code: 'INTERNAL',
        message: 'An internal error occurred',
        hint: 'Try again; if it keeps failing, report it with the request id',
        requestId: response.headers['x-request-id'],
      });
    } finally {
      await t.server.store.pool.query('ALTER TABLE groups_moved RENAME TO groups');
    }
  });
});
