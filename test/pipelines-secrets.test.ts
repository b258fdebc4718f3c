/**
 * Apps' webhook and hook secrets at rest: sealed with the secret store's envelope encryption (never
 * in the database in plain text, not even in a pg_dump), still checked in constant time against
 * webhooks; secrets stored in plain text by an older version are sealed once the store is unsealed;
 * and while the store is sealed the operations that need a secret answer 503 and change nothing.
 */
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { auditMigrations } from '../src/audit/index.ts';
import { newId, randomToken } from '../src/core/index.ts';
import { AppSecrets, appSecretCipher, pipelinesMigrations } from '../src/pipelines/index.ts';
import { generateRootKey, SecretVault, secretsMigrations } from '../src/secrets/index.ts';
import { migrateToLatest, openDatabase } from '../src/store/index.ts';
import { startPostgres } from '../src/store/testing.ts';
import { api, type PipelineTestServer, startPipelineServer } from './pipelines-support.ts';

const execFileAsync = promisify(execFile);
const PG_DUMP = '/usr/lib/postgresql/15/bin/pg_dump';

let t: PipelineTestServer;
const rootKey = generateRootKey();

function sign(body: string, key: string): string {
  return createHmac('sha256', key).update(body).digest('hex');
}

/** A GitHub ping signed with `key`: verified (202, nothing to build) or refused (401), no build either way. */
async function ping(app: string, key: string) {
  const body = JSON.stringify({ zen: 'Design for failure.', hook_id: 7 });
  const response = await fetch(`${t.url}/api/webhooks/${app}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'ping',
      'x-hub-signature-256': `sha256=${sign(body, key)}`,
    },
    body,
  });
  return { status: response.status, json: (await response.json()) as any };
}

async function appRows(): Promise<Record<string, unknown>[]> {
  const { rows } = await sql<Record<string, unknown>>`SELECT * FROM pipeline_apps ORDER BY name`.execute(
    t.server.store.db,
  );
  return rows;
}

beforeAll(async () => {
  t = await startPipelineServer({ rootKey });
});
afterAll(async () => {
  await t?.stopAll();
});

describe('webhook secrets at rest', () => {
  test('are sealed in the database: no table row and no pg_dump holds them in plain text', async () => {
    const { webhookSecret } = await api(t, 'POST', '/api/apps', {
      name: 'sealed-app',
      repository: '/nonexistent/repository.git',
    });
    const { hookSecret } = await api(t, 'POST', '/api/apps/sealed-app/hook');
    const [row] = await appRows();
    expect(row).toMatchObject({ plain_webhook_secret: null, plain_hook_secret: null });
    expect(row!.sealed_webhook_secret).toMatch(/^slw1:/);
    expect(row!.sealed_hook_secret).toMatch(/^slw1:/);
    expect((await api(t, 'GET', '/api/apps/sealed-app')).hookInstalled).toBe(true);

    const { stdout: dump } = await execFileAsync(PG_DUMP, ['--no-owner', t.postgres.url], {
      maxBuffer: 256 << 20,
    });
    expect(dump).toContain('sealed-app');
    for (const secret of [webhookSecret, hookSecret]) {
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(secret.slice(4));
      expect(JSON.stringify(await appRows())).not.toContain(secret.slice(4));
    }
  });

  test('webhooks still verify; a wrong signature is 401, audited, and starts nothing', async () => {
    const { webhookSecret } = await api(t, 'POST', '/api/apps', {
      name: 'verified-app',
      repository: '/nonexistent/repository.git',
    });
    expect(await ping('verified-app', webhookSecret)).toMatchObject({
      status: 202,
      json: { accepted: false, message: 'Nothing to build: GitHub event "ping" is not a push' },
    });
    const refused = await ping('verified-app', `${webhookSecret}x`);
    expect(refused).toMatchObject({
      status: 401,
      json: {
        error: { code: 'UNAUTHENTICATED', message: 'The webhook signature is missing or does not match' },
      },
    });
    const denied = await api<any[]>(t, 'GET', '/api/audit?action=pipelines.webhook&outcome=denied&limit=10');
    expect(denied[0]).toMatchObject({ target: 'app:verified-app', outcome: 'denied' });
    expect(JSON.stringify(denied)).not.toContain(webhookSecret);
    expect(await api(t, 'GET', '/api/runs?app=verified-app')).toStrictEqual([]);

    // Rotated: the old secret stops working at once, the new one is sealed too.
    const { webhookSecret: rotated } = await api(t, 'POST', '/api/apps/verified-app/webhook-secret');
    expect((await ping('verified-app', webhookSecret)).status).toBe(401);
    expect((await ping('verified-app', rotated)).status).toBe(202);
    expect(JSON.stringify(await appRows())).not.toContain(rotated.slice(4));
  });

  test('secrets an older version stored in plain text are sealed at start, and keep working', async () => {
    // given: an app row as the previous version left it, secrets in plain text
    const webhookSecret = `whs_${randomToken(32)}`;
    const hookSecret = `whk_${randomToken(32)}`;
    await sql`
      INSERT INTO pipeline_apps (id, name, repository, branch, network, concurrency, retention_keep,
        plain_webhook_secret, plain_hook_secret)
      VALUES (${newId()}, 'legacy-app', '/nonexistent/repository.git', 'master', 'allowed', 1, 10,
        ${webhookSecret}, ${hookSecret})
    `.execute(t.server.store.db);
    // when
    await t.stopServer();
    await t.restartServer();
    // then
    const row = (await appRows()).find((r) => r.name === 'legacy-app')!;
    expect(row).toMatchObject({ plain_webhook_secret: null, plain_hook_secret: null });
    expect(row.sealed_webhook_secret).toMatch(/^slw1:/);
    expect(row.sealed_hook_secret).toMatch(/^slw1:/);
    expect(JSON.stringify(await appRows())).not.toContain(webhookSecret.slice(4));
    expect((await ping('legacy-app', webhookSecret)).status).toBe(202);
  });
});

describe('while the secret store is sealed', () => {
  test('creating apps, rotating secrets and checking webhooks answer 503, change nothing, and the rest works', async () => {
    const { webhookSecret } = await api(t, 'POST', '/api/apps', {
      name: 'before-sealing',
      repository: '/nonexistent/repository.git',
    });
    const rowsBefore = await appRows();
    t.server.secretVault.seal('sealed by the test');
    try {
      const created = await t.inject('POST', '/api/apps', {
        token: t.adminToken,
        body: { name: 'while-sealed', repository: '/nonexistent/repository.git' },
      });
      expect({ status: created.statusCode, error: created.json().error }).toMatchObject({
        status: 503,
        error: {
          code: 'UNAVAILABLE',
          message:
            'Cannot register app "while-sealed": the secret store that encrypts webhook secrets is sealed (sealed by the test)',
          hint: expect.stringContaining('slipway secrets unseal'),
        },
      });
      for (const path of ['/api/apps/before-sealing/webhook-secret', '/api/apps/before-sealing/hook']) {
        const refused = await t.inject('POST', path, { token: t.adminToken });
        expect({ path, status: refused.statusCode }).toStrictEqual({ path, status: 503 });
      }
      const webhook = await ping('before-sealing', webhookSecret);
      expect(webhook).toMatchObject({
        status: 503,
        json: {
          error: {
            code: 'UNAVAILABLE',
            message:
              'Cannot check the webhook signature: the secret store that encrypts webhook secrets is sealed (sealed by the test)',
          },
        },
      });
      // An app that does not exist answers the same: the answer reveals no app names.
      expect((await ping('no-such-app', webhookSecret)).status).toBe(503);
      expect(JSON.stringify(webhook)).not.toContain(webhookSecret);

      expect(await appRows()).toStrictEqual(rowsBefore);
      expect((await api<any[]>(t, 'GET', '/api/apps')).map((a) => a.name)).toContain('before-sealing');
      const failed = await api<any[]>(
        t,
        'GET',
        '/api/audit?action=pipelines.webhook&outcome=failure&limit=10',
      );
      expect(failed[0]).toMatchObject({ target: 'app:no-such-app', details: { error: 'UNAVAILABLE' } });
    } finally {
      const unsealed = await t.inject('POST', '/api/secrets/unseal', {
        token: t.adminToken,
        body: { rootKey },
      });
      expect(unsealed.statusCode).toBe(200);
    }
    expect((await ping('before-sealing', webhookSecret)).status).toBe(202);
  });
});

test('the migration keeps plain secrets of existing apps until the service seals them', async () => {
  // given: a database with the first pipelines migration only, and an app stored by it
  const postgres = await startPostgres();
  const database = openDatabase({ connectionString: postgres.url });
  try {
    const [first, ...rest] = Object.keys(pipelinesMigrations).sort();
    expect(rest).toContain('2026-11-29T1000-pipelines-sealed-webhook-secrets');
    const before = { [first!]: pipelinesMigrations[first!]! };
    await migrateToLatest(database.db, [auditMigrations, secretsMigrations, before]);
    const id = newId();
    await sql`
      INSERT INTO pipeline_apps (id, name, repository, branch, network, concurrency, retention_keep,
        webhook_secret, hook_secret)
      VALUES (${id}, 'old-app', '/nonexistent/repository.git', 'master', 'allowed', 1, 10, 'whs_old', NULL)
    `.execute(database.db);
    // when: migrated, then sealed by the service's pass
    await migrateToLatest(database.db, [auditMigrations, secretsMigrations, pipelinesMigrations]);
    const migrated = await sql<any>`SELECT * FROM pipeline_apps`.execute(database.db);
    expect(migrated.rows[0]).toMatchObject({
      plain_webhook_secret: 'whs_old',
      plain_hook_secret: null,
      sealed_webhook_secret: null,
    });
    const vault = await SecretVault.open({ db: database.db, rootKey: { value: generateRootKey() } });
    const secrets = new AppSecrets(appSecretCipher(vault));
    // then
    expect(await secrets.sealPlaintext(database.db)).toBe(1);
    expect(await secrets.sealPlaintext(database.db)).toBe(0);
    const sealed = await sql<any>`SELECT * FROM pipeline_apps`.execute(database.db);
    expect(sealed.rows[0]).toMatchObject({
      plain_webhook_secret: null,
      sealed_webhook_secret: expect.any(String),
    });
    expect(await secrets.keys(sealed.rows[0], 'check')).toStrictEqual({
      webhookSecret: 'whs_old',
      hookSecret: null,
    });
    // A row must keep one form of its webhook secret.
    await expect(
      sql`UPDATE pipeline_apps SET sealed_webhook_secret = NULL`.execute(database.db),
    ).rejects.toThrow(/pipeline_apps_webhook_secret_kept/);
  } finally {
    await database.close();
    await postgres.stop();
  }
});
