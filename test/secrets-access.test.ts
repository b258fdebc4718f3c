import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import {
  type AnyRoute,
  createLogger,
  defineRoute,
  environmentScope,
  InvalidInputError,
  type Role,
  roleRank,
} from '../src/core/index.ts';
import { buildApp } from '../src/server/app.ts';
import { createServerMetrics } from '../src/server/metrics.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';
import type { MatrixContext } from './role-matrix/index.ts';
import { secretsMatrix } from './role-matrix/secrets.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

const context = (): MatrixContext => ({
  admin: (method, path, body) => t.inject(method, path, { token: t.adminToken, body }),
  server: t,
});

async function latestAudit(actor: string) {
  const response = await t.inject('GET', `/api/audit?actor=${actor}&limit=1`, { token: t.adminToken });
  return response.json()[0];
}

describe('secrets: who may do what', () => {
  test('each role on staging, production and the platform, for every secrets route; every refusal is audited', async () => {
    const holders: { role: Role; scope: string; username: string; token: string }[] = [];
    for (const role of ['viewer', 'developer', 'deployer', 'admin'] as Role[]) {
      for (const scope of ['platform', 'environment:staging', 'environment:production']) {
        const username = `s-${role}-${scope.replace('environment:', '')}`;
        holders.push({ role, scope, username, token: await t.userWithRoles(username, [`${role}@${scope}`]) });
      }
    }
    const cases = secretsMatrix.cases(context());
    const routes = t.server.routes.filter(
      (r) => r.path.startsWith('/api/secrets') && typeof r.access === 'object',
    );
    expect(new Set(secretsMatrix.covers)).toStrictEqual(new Set(routes.map((r) => `${r.method} ${r.path}`)));
    expect(cases).toHaveLength(secretsMatrix.covers.length);

    const outcomes: string[] = [];
    let n = 0;
    for (const c of cases) {
      for (const holder of holders) {
        n += 1;
        const request = await c.request(n);
        const response = await t.inject(request.method, request.path, {
          token: holder.token,
          body: request.body,
        });
        const allowed =
          (holder.scope === 'platform' || holder.scope === c.needs.scope) &&
          roleRank(holder.role) >= roleRank(c.needs.role);
        if (allowed) {
          if (response.statusCode >= 300)
            outcomes.push(`${c.name} as ${holder.username}: ${response.statusCode} ${response.body}`);
          continue;
        }
        if (response.statusCode !== 403) {
          outcomes.push(`${c.name} as ${holder.username}: expected 403, got ${response.statusCode}`);
          continue;
        }
        // The refusal is in the audit log, reads included, naming what was attempted.
        const entry = await latestAudit(holder.username);
        if (
          entry?.requestId !== response.headers['x-request-id'] ||
          entry.outcome !== 'denied' ||
          entry.details?.error !== 'FORBIDDEN' ||
          (request.path.includes('/environments/') && !entry.target)
        ) {
          outcomes.push(`${c.name} as ${holder.username}: refusal not audited (${JSON.stringify(entry)})`);
        }
      }
    }
    expect(outcomes).toStrictEqual([]);
  });

  test('a deployer sees names and metadata but never a value, and the attempt is on record', async () => {
    const deployer = await t.userWithRoles('deploy-dora', ['deployer@environment:staging']);
    await t.inject('POST', '/api/secrets/environments/staging/DEPLOY_KEY', {
      token: t.adminToken,
      body: { value: 'dk-1' },
    });
    const list = await t.inject('GET', '/api/secrets/environments/staging', { token: deployer });
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain('dk-1');
    const read = await t.inject('GET', '/api/secrets/environments/staging/DEPLOY_KEY/value', {
      token: deployer,
    });
    expect(read.statusCode).toBe(403);
    expect(read.json().error.message).toBe(
      'Not allowed: user "deploy-dora" needs role "admin" on environment:staging',
    );
    expect(await latestAudit('deploy-dora')).toMatchObject({
      action: 'secrets.read',
      target: 'secret:staging/DEPLOY_KEY',
      outcome: 'denied',
    });
    const exported = await t.inject('GET', '/api/secrets/environments/staging/export', { token: deployer });
    expect(exported.statusCode).toBe(403);
    expect(await latestAudit('deploy-dora')).toMatchObject({ action: 'secrets.export', outcome: 'denied' });
  });

  test('reads are audited too: list, history and value reads, each with the value HMAC where there is one', async () => {
    await t.inject('GET', '/api/secrets/environments/staging/DEPLOY_KEY/value', { token: t.adminToken });
    const entries = (
      await t.inject('GET', '/api/audit?actor=admin&action=secrets.&limit=3', { token: t.adminToken })
    ).json();
    expect(entries[0]).toMatchObject({
      action: 'secrets.read',
      outcome: 'success',
      target: 'secret:staging/DEPLOY_KEY',
      details: {
        environment: 'staging',
        name: 'DEPLOY_KEY',
        version: 1,
        valueHmac: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    });
    const missing = await t.inject('GET', '/api/secrets/environments/staging/NOPE/value', {
      token: t.adminToken,
    });
    expect(missing.statusCode).toBe(404);
    expect(await latestAudit('admin')).toMatchObject({
      action: 'secrets.read',
      outcome: 'failure',
      target: 'secret:staging/NOPE',
      details: { error: 'NOT_FOUND' },
    });
  });
});

describe('the route option that audits reads (auditReads)', () => {
  function probeRoutes(): AnyRoute[] {
    const params = z.strictObject({ environment: z.string(), fail: z.enum(['yes', 'no']) });
    return [
      defineRoute({
        method: 'GET',
        path: '/probe/audited/:environment/:fail',
        summary: 'an audited read',
        access: { role: 'admin', scope: ({ params }) => environmentScope(params.environment) },
        params,
        auditReads: true,
        audit: { action: 'probe.read', target: ({ params }) => `probe:${params.environment}` },
        async handler(context) {
          context.audit.details = { looked: true };
          if (context.input.params.fail === 'yes') throw new InvalidInputError('probe failed on purpose');
          return { ok: true };
        },
      }),
      defineRoute({
        method: 'GET',
        path: '/probe/plain/:environment/:fail',
        summary: 'a read that is not audited',
        access: { role: 'admin', scope: ({ params }) => environmentScope(params.environment) },
        params,
        audit: { action: 'probe.plain' },
        async handler() {
          return { ok: true };
        },
      }),
    ];
  }

  test('a GET with auditReads is audited on success, failure and refusal; a plain GET is not', async () => {
    const { app } = await buildApp({
      store: t.server.store,
      routes: probeRoutes(),
      clock: { now: () => new Date(), sleep: async () => undefined },
      logger: createLogger({ level: 'silent' }),
      metrics: createServerMetrics(),
    });
    try {
      const viewer = await t.userWithRoles('probe-viewer', ['viewer@environment:staging']);
      const call = (path: string, token: string) =>
        app.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${token}` } });
      const ok = await call('/probe/audited/staging/no', t.adminToken);
      const failed = await call('/probe/audited/staging/yes', t.adminToken);
      const denied = await call('/probe/audited/staging/no', viewer);
      const anonymous = await app.inject({ method: 'GET', url: '/probe/audited/staging/no' });
      expect([ok.statusCode, failed.statusCode, denied.statusCode, anonymous.statusCode]).toStrictEqual([
        200, 400, 403, 401,
      ]);
      await call('/probe/plain/staging/no', t.adminToken);
      await call('/probe/plain/staging/no', viewer);

      const entries = (
        await t.inject('GET', '/api/audit?action=probe.&limit=10', { token: t.adminToken })
      ).json() as {
        action: string;
        actor: string;
        outcome: string;
        target: string;
        requestId: string;
        details: unknown;
      }[];
      expect(entries.map((e) => [e.action, e.actor, e.outcome, e.target, e.details])).toStrictEqual([
        ['probe.read', 'anonymous', 'denied', null, { error: 'UNAUTHENTICATED' }], // refused before its input was read
        ['probe.read', 'probe-viewer', 'denied', 'probe:staging', { error: 'FORBIDDEN' }],
        ['probe.read', 'admin', 'failure', 'probe:staging', { looked: true, error: 'INVALID_INPUT' }],
        ['probe.read', 'admin', 'success', 'probe:staging', { looked: true }],
      ]);
      expect(entries[3]!.requestId).toBe(ok.headers['x-request-id']);
    } finally {
      await app.close();
    }
  });

  test('a route that audits reads must name its audit action', async () => {
    const route = defineRoute({
      method: 'GET',
      path: '/probe/unnamed',
      summary: 'no action',
      access: 'authenticated',
      auditReads: true,
      async handler() {
        return {};
      },
    });
    await expect(
      buildApp({
        store: t.server.store,
        routes: [route],
        clock: { now: () => new Date(), sleep: async () => undefined },
        logger: createLogger({ level: 'silent' }),
        metrics: createServerMetrics(),
      }),
    ).rejects.toThrowError('Route GET /probe/unnamed is audited but declares no audit action');
  });
});
