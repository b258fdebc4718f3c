import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createEnvelopeCipher,
  generateRootKey,
  LocalRootKey,
  SecretVault,
  setSecret,
} from '../src/secrets/index.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';

async function call(t: TestServer, method: string, path: string, body?: unknown, token = t.adminToken) {
  const response = await t.inject(method, path, { token, body });
  return { status: response.statusCode, body: response.json() };
}

describe('sealed mode: started without a root key', () => {
  let t: TestServer;
  const rootKey = generateRootKey();
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.stop();
  });

  test('secret calls answer 503 with a hint; everything else works', async () => {
    expect((await call(t, 'GET', '/api/secrets/status')).body).toStrictEqual({
      sealed: true,
      reason: 'Slipway was started without its root key',
      hint:
        'Give the server its root key: set SLIPWAY_ROOT_KEY_FILE (or SLIPWAY_ROOT_KEY) and restart, or run ' +
        '`slipway secrets unseal` as a platform administrator and paste the key',
      rootKeyId: null,
      rootKeySource: 'none',
      versionsKept: 10,
    });
    for (const [method, path, body] of [
      ['GET', '/api/secrets/environments/staging'],
      ['GET', '/api/secrets/environments/staging/APP_KEY/value'],
      ['POST', '/api/secrets/environments/staging/APP_KEY', { value: 'x' }],
      ['GET', '/api/secrets/matrix'],
    ] as const) {
      const answer = await call(t, method, path, body);
      expect({ path, status: answer.status }).toStrictEqual({ path, status: 503 });
      expect(answer.body.error).toMatchObject({
        code: 'UNAVAILABLE',
        message: 'The secret store is sealed: Slipway was started without its root key',
        hint: expect.stringContaining('slipway secrets unseal'),
      });
    }
    expect((await call(t, 'GET', '/api/whoami')).status).toBe(200);
    expect((await call(t, 'POST', '/api/groups', { name: 'still-works' })).status).toBe(201);
    expect((await call(t, 'GET', '/healthz')).status).toBe(200);
    const [failed] = (await call(t, 'GET', '/api/audit?action=secrets.set')).body;
    expect(failed).toMatchObject({
      outcome: 'failure',
      target: 'secret:staging/APP_KEY',
      details: { environment: 'staging', name: 'APP_KEY', error: 'UNAVAILABLE' },
    });
  });

  test('unseal: platform admins only, a well-formed key; then secrets work', async () => {
    const envAdmin = await t.userWithRoles('env-admin', ['admin@environment:staging']);
    expect((await call(t, 'POST', '/api/secrets/unseal', { rootKey }, envAdmin)).status).toBe(403);
    const malformed = await call(t, 'POST', '/api/secrets/unseal', { rootKey: 'not-a-key' });
    expect(malformed.status).toBe(400);
    expect(JSON.stringify(malformed.body)).not.toContain('not-a-key');
    const unsealed = await call(t, 'POST', '/api/secrets/unseal', { rootKey });
    expect(unsealed.body).toStrictEqual({
      sealed: false,
      rootKeyId: LocalRootKey.fromText(rootKey).keyId,
      initialized: true,
      alreadyUnsealed: false,
    });
    expect(
      (await call(t, 'POST', '/api/secrets/environments/staging/APP_KEY', { value: 'app-key-1' })).status,
    ).toBe(200);
    expect((await call(t, 'POST', '/api/secrets/unseal', { rootKey })).body.alreadyUnsealed).toBe(true);
    const other = await call(t, 'POST', '/api/secrets/unseal', { rootKey: generateRootKey() });
    expect(other.status).toBe(400);
    expect(other.body.error.message).toMatch(/^This root key does not open the secret store/);
    const entries = (await call(t, 'GET', '/api/audit?action=secrets.unseal')).body;
    expect(entries.map((e: { outcome: string; actor: string }) => [e.outcome, e.actor])).toStrictEqual([
      ['failure', 'admin'],
      ['success', 'admin'],
      ['success', 'admin'],
      ['failure', 'admin'],
      ['denied', 'env-admin'],
    ]);
    expect(JSON.stringify(entries)).not.toContain(rootKey);
  });

  test('after a restart without the key it is sealed again; only the right key unseals it', async () => {
    await t.restartServer();
    expect((await call(t, 'GET', '/api/secrets/environments/staging')).status).toBe(503);
    expect((await call(t, 'POST', '/api/secrets/unseal', { rootKey: generateRootKey() })).status).toBe(400);
    expect((await call(t, 'POST', '/api/secrets/unseal', { rootKey })).body).toMatchObject({
      initialized: false,
    });
    expect((await call(t, 'GET', '/api/secrets/environments/staging/APP_KEY/value')).body.value).toBe(
      'app-key-1',
    );
  });
});

describe('root-key rotation with the key in a file', () => {
  let t: TestServer;
  let dir: string;
  let keyFile: string;
  // The running server's database handle (a restart opens a new one).
  const db = (): Kysely<any> => t.server.store.db;
  const oldKey = generateRootKey();
  const newKey = generateRootKey();
  const url = 'postgres://replicator:rotate-me@db.example.test/app';
  let token: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-root-key-'));
    keyFile = join(dir, 'root.key');
    await writeFile(keyFile, `${oldKey}\n`, { mode: 0o600 });
    t = await startTestServer({ rootKeyFile: keyFile });
  });
  afterAll(async () => {
    await t?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('starts unsealed from the file', async () => {
    expect((await call(t, 'GET', '/api/secrets/status')).body).toMatchObject({
      sealed: false,
      rootKeySource: 'file',
      rootKeyId: LocalRootKey.fromText(oldKey).keyId,
    });
    for (const environment of ['staging', 'production']) {
      await call(t, 'POST', `/api/secrets/environments/${environment}/DB_PASSWORD`, {
        value: `${environment}-db`,
      });
    }
    token = await createEnvelopeCipher(t.server.secretVault, 'replication').seal(url, 'link:1');
  });

  test('refuses a wrong current key and a malformed new key, changing nothing', async () => {
    const wrong = await call(t, 'POST', '/api/secrets/root-key/rotate', {
      currentRootKey: generateRootKey(),
      newRootKey: newKey,
    });
    expect(wrong.status).toBe(400);
    expect(
      (await call(t, 'POST', '/api/secrets/root-key/rotate', { currentRootKey: oldKey, newRootKey: 'short' }))
        .status,
    ).toBe(400);
    expect((await readFile(keyFile, 'utf8')).trim()).toBe(oldKey);
  });

  test('re-wraps every data key; values still read; the file holds the new key; the old key opens nothing', async () => {
    const before = await db()
      .selectFrom('secret_versions')
      .select(['ciphertext', 'nonce'])
      .orderBy('ciphertext')
      .execute();
    const rotated = await call(t, 'POST', '/api/secrets/root-key/rotate', {
      currentRootKey: oldKey,
      newRootKey: newKey,
    });
    expect(rotated.body).toStrictEqual({
      rootKeyId: LocalRootKey.fromText(newKey).keyId,
      previousRootKeyId: LocalRootKey.fromText(oldKey).keyId,
      rewrapped: 4, // staging, production, module:replication, and the HMAC key
      persisted: 'file',
    });
    // Values were not touched: the same ciphertext, only the wrapped keys changed.
    expect(
      await db()
        .selectFrom('secret_versions')
        .select(['ciphertext', 'nonce'])
        .orderBy('ciphertext')
        .execute(),
    ).toStrictEqual(before);
    expect((await readFile(keyFile, 'utf8')).trim()).toBe(newKey);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    for (const environment of ['staging', 'production']) {
      const read = await call(t, 'GET', `/api/secrets/environments/${environment}/DB_PASSWORD/value`);
      expect(read.body.value).toBe(`${environment}-db`);
    }
    expect(await createEnvelopeCipher(t.server.secretVault, 'replication').open(token, 'link:1')).toBe(url);

    const old = LocalRootKey.fromText(oldKey);
    const current = LocalRootKey.fromText(newKey);
    const keys = await db().selectFrom('secret_data_keys').selectAll().execute();
    expect(keys).toHaveLength(3);
    for (const row of keys) {
      const context = { purpose: 'data-key', scope: row.scope, id: row.id };
      await expect(old.unwrapKey(row.wrapped_key, context)).rejects.toThrowError(/Cannot unwrap/);
      await expect(current.unwrapKey(row.wrapped_key, context)).resolves.toHaveLength(32);
      expect(row.root_key_id).toBe(current.keyId);
    }
    const root = await db().selectFrom('secret_root').selectAll().executeTakeFirstOrThrow();
    await expect(old.unwrapKey(root.hmac_key_wrapped, { purpose: 'hmac-key' })).rejects.toThrowError(
      /Cannot unwrap/,
    );
    const [entry] = (await call(t, 'GET', '/api/audit?action=secrets.root-key.rotate&outcome=success')).body;
    expect(JSON.stringify(entry)).not.toContain(newKey);
    expect(JSON.stringify(entry)).not.toContain(oldKey);

    // A control plane given the old key stays sealed and says why.
    const stale = await SecretVault.open({ db: db(), rootKey: { value: oldKey } });
    expect(stale.status()).toMatchObject({
      sealed: true,
      reason: `the configured root key (${old.keyId}) does not open this store (it uses ${current.keyId})`,
    });
  });

  test('a restart reads the new key from the file', async () => {
    await t.restartServer();
    expect((await call(t, 'GET', '/api/secrets/status')).body).toMatchObject({
      sealed: false,
      rootKeyId: LocalRootKey.fromText(newKey).keyId,
    });
    expect((await call(t, 'GET', '/api/secrets/environments/staging/DB_PASSWORD/value')).body.value).toBe(
      'staging-db',
    );
  });

  test('a second control plane that missed a rotation seals itself instead of writing under the old key', async () => {
    const replica = await SecretVault.open({ db: db(), rootKey: { value: newKey } });
    expect(replica.status().sealed).toBe(false);
    const newest = generateRootKey();
    await call(t, 'POST', '/api/secrets/root-key/rotate', { currentRootKey: newKey, newRootKey: newest });
    await expect(
      setSecret(db(), {
        vault: replica,
        environment: 'fresh-environment',
        name: 'X',
        value: 'x',
        actor: 'test',
      }),
    ).rejects.toThrowError(
      /^The secret store is sealed: the root key was rotated to local:[0-9a-f]{16} by another control plane$/,
    );
    expect(replica.status().sealed).toBe(true);
    expect((await replica.unseal(newest)).rootKeyId).toBe(LocalRootKey.fromText(newest).keyId);
  });
});
