import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createEnvelopeCipher,
  currentSecretSetVersion,
  pinSecretSet,
  redactorForEnvironment,
  resolveSecretSet,
} from '../src/secrets/index.ts';
import { withRootKey } from '../src/secrets/testing.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';

let t: TestServer;
let db: Kysely<any>;
beforeAll(async () => {
  t = await startTestServer(withRootKey({ secretVersionsKept: 3 }));
  db = t.server.store.db;
});
afterAll(async () => {
  await t?.stop();
});

const base = (environment: string) => `/api/secrets/environments/${environment}`;
async function call(method: string, path: string, body?: unknown) {
  const response = await t.inject(method, path, { token: t.adminToken, body });
  return { status: response.statusCode, body: response.json() };
}
const setValue = (environment: string, name: string, value: string, reason?: string) =>
  call('POST', `${base(environment)}/${name}`, { value, ...(reason ? { reason } : {}) });

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('secrets of an environment through the API', () => {
  test('set, read, list and history: versions, set versions, metadata without values', async () => {
    const first = await setValue('staging', 'DB_PASSWORD', 'first-password', 'initial');
    expect(first).toMatchObject({
      status: 200,
      body: { environment: 'staging', name: 'DB_PASSWORD', version: 1, setVersion: 1, changed: true },
    });
    const same = await setValue('staging', 'DB_PASSWORD', 'first-password');
    expect(same.body).toMatchObject({ version: 1, setVersion: 1, changed: false });
    const second = await setValue('staging', 'DB_PASSWORD', 'second-password', 'rotated by ops');
    expect(second.body).toMatchObject({ version: 2, setVersion: 2, changed: true });
    expect(second.body.fingerprint).not.toBe(first.body.fingerprint);

    expect((await call('GET', `${base('staging')}/DB_PASSWORD/value`)).body).toStrictEqual({
      environment: 'staging',
      name: 'DB_PASSWORD',
      version: 2,
      value: 'second-password',
    });
    expect((await call('GET', `${base('staging')}/DB_PASSWORD/value?version=1`)).body.value).toBe(
      'first-password',
    );

    const list = await call('GET', base('staging'));
    expect(list.body).toMatchObject({
      environment: 'staging',
      setVersion: 2,
      secrets: [
        { name: 'DB_PASSWORD', version: 2, updatedBy: 'admin', reason: 'rotated by ops', deletedAt: null },
      ],
    });
    expect(JSON.stringify(list.body)).not.toContain('password"');
    const history = await call('GET', `${base('staging')}/DB_PASSWORD`);
    expect(
      history.body.versions.map((v: { version: number; origin: string; current: boolean }) => [
        v.version,
        v.origin,
        v.current,
      ]),
    ).toStrictEqual([
      [2, 'set', true],
      [1, 'set', false],
    ]);
    expect(JSON.stringify(history.body)).not.toContain('first-password');
  });

  test('rollback makes an old value current as a new version; delete and restore move the set', async () => {
    const rolled = await call('POST', `${base('staging')}/DB_PASSWORD/rollback`, { toVersion: 1 });
    expect(rolled.body).toMatchObject({ version: 3, setVersion: 3, changed: true });
    const history = (await call('GET', `${base('staging')}/DB_PASSWORD`)).body;
    const v3 = history.versions.find((v: { version: number }) => v.version === 3);
    const v1 = history.versions.find((v: { version: number }) => v.version === 1);
    expect(v3).toMatchObject({ origin: 'rollback', rolledBackFrom: 1, reason: 'rollback to version 1' });
    expect(v3.fingerprint).toBe(v1.fingerprint);

    const deleted = await call('DELETE', `${base('staging')}/DB_PASSWORD?reason=moved%20to%20vault`);
    expect(deleted.body).toStrictEqual({
      environment: 'staging',
      name: 'DB_PASSWORD',
      version: 3,
      setVersion: 4,
    });
    expect((await call('GET', base('staging'))).body.secrets).toStrictEqual([]);
    const gone = await call('GET', `${base('staging')}/DB_PASSWORD/value`);
    expect(gone.status).toBe(404);
    expect(gone.body.error.message).toBe('Secret DB_PASSWORD in environment "staging" is deleted');
    expect((await call('DELETE', `${base('staging')}/DB_PASSWORD`)).status).toBe(409);
    const withDeleted = (await call('GET', `${base('staging')}?deleted=true`)).body.secrets;
    expect(withDeleted).toMatchObject([
      { name: 'DB_PASSWORD', deletedBy: 'admin', deleteReason: 'moved to vault' },
    ]);

    const restored = await call('POST', `${base('staging')}/DB_PASSWORD/restore`, {});
    expect(restored.body).toStrictEqual({
      environment: 'staging',
      name: 'DB_PASSWORD',
      version: 3,
      setVersion: 5,
    });
    expect((await call('GET', `${base('staging')}/DB_PASSWORD/value`)).body.value).toBe('first-password');
    expect((await call('POST', `${base('staging')}/DB_PASSWORD/restore`, {})).status).toBe(409);

    const sets = (await call('GET', `${base('staging')}/sets`)).body;
    expect(sets.map((s: { version: number; changes: unknown[] }) => [s.version, s.changes])).toStrictEqual([
      [5, [{ name: 'DB_PASSWORD', action: 'restore', version: 3 }]],
      [4, [{ name: 'DB_PASSWORD', action: 'delete', version: 3 }]],
      [3, [{ name: 'DB_PASSWORD', action: 'rollback', version: 3 }]],
      [2, [{ name: 'DB_PASSWORD', action: 'set', version: 2 }]],
      [1, [{ name: 'DB_PASSWORD', action: 'set', version: 1 }]],
    ]);
    expect((await call('GET', `${base('staging')}/sets/4`)).body.members).toStrictEqual({});
    expect((await call('GET', `${base('staging')}/sets/5`)).body.members).toStrictEqual({ DB_PASSWORD: 3 });
    expect((await call('GET', `${base('staging')}/sets/99`)).status).toBe(404);
  });

  test('import sets many secrets as one set version; replace deletes the rest; export returns values', async () => {
    const imported = await call('POST', `${base('production')}/import`, {
      entries: [
        { name: 'APP_KEY', value: 'base64:shared-app-key' },
        { name: 'MAIL_PASSWORD', value: 'mail "quoted"\nsecond line' },
        { name: 'OLD_TOKEN', value: 'to-be-replaced' },
      ],
      reason: 'first import',
    });
    expect(imported.body).toStrictEqual({
      environment: 'production',
      setVersion: 1,
      created: ['APP_KEY', 'MAIL_PASSWORD', 'OLD_TOKEN'],
      updated: [],
      unchanged: [],
      deleted: [],
    });
    const replaced = await call('POST', `${base('production')}/import`, {
      entries: [
        { name: 'APP_KEY', value: 'base64:shared-app-key' },
        { name: 'MAIL_PASSWORD', value: 'new mail password' },
      ],
      replace: true,
    });
    expect(replaced.body).toMatchObject({
      setVersion: 2,
      created: [],
      updated: ['MAIL_PASSWORD'],
      unchanged: ['APP_KEY'],
      deleted: ['OLD_TOKEN'],
    });
    const duplicate = await call('POST', `${base('production')}/import`, {
      entries: [
        { name: 'A', value: '1' },
        { name: 'A', value: '2' },
      ],
    });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.error.details).toStrictEqual([
      { path: 'body.entries.1.name', message: 'A appears more than once' },
    ]);
    const lowercase = await call('POST', `${base('production')}/import`, {
      entries: [{ name: 'db_password', value: 'x' }],
    });
    expect(lowercase.body.error.details[0].path).toBe('body.entries.0.name');

    const exported = await call('GET', `${base('production')}/export`);
    expect(exported.body).toStrictEqual({
      environment: 'production',
      setVersion: 2,
      entries: [
        { name: 'APP_KEY', value: 'base64:shared-app-key' },
        { name: 'MAIL_PASSWORD', value: 'new mail password' },
      ],
    });
  });

  test('the matrix shows missing keys and values equal across environments (by HMAC)', async () => {
    await setValue('staging', 'APP_KEY', 'base64:shared-app-key');
    await setValue('staging', 'MAIL_PASSWORD', 'a different one');
    const matrix = (await call('GET', '/api/secrets/matrix')).body;
    expect(matrix.environments).toStrictEqual(['production', 'staging']);
    const byName = Object.fromEntries(matrix.keys.map((k: { name: string }) => [k.name, k]));
    expect(byName.APP_KEY).toMatchObject({ missing: [], sameValue: [['production', 'staging']] });
    expect(byName.MAIL_PASSWORD).toMatchObject({ missing: [], sameValue: [] });
    expect(byName.DB_PASSWORD).toMatchObject({ missing: ['production'], cells: { production: null } });
    expect(JSON.stringify(matrix)).not.toContain('shared-app-key');

    const viewer = await t.userWithRoles('matrix-viewer', ['viewer@environment:staging']);
    const seen = (await t.inject('GET', '/api/secrets/matrix', { token: viewer })).json();
    expect(seen.environments).toStrictEqual(['staging']);
  });

  test('keep-last-N destroys old values but keeps their history; a pinned set keeps its values', async () => {
    for (const n of [1, 2, 3]) await setValue('keep', 'TOKEN', `token-${n}`);
    const pinned = await currentSecretSetVersion(db, 'keep');
    await pinSecretSet(db, { environment: 'keep', setVersion: pinned, pinnedBy: 'release:test-1' });
    for (const n of [4, 5, 6, 7]) await setValue('keep', 'TOKEN', `token-${n}`);
    const history = (await call('GET', `${base('keep')}/TOKEN`)).body.versions;
    expect(
      history.map((v: { version: number; destroyed: boolean }) => [v.version, v.destroyed]),
    ).toStrictEqual([
      [7, false],
      [6, false],
      [5, false],
      [4, true],
      [3, false], // pinned by release:test-1
      [2, true],
      [1, true],
    ]);
    const destroyed = await call('GET', `${base('keep')}/TOKEN/value?version=2`);
    expect(destroyed.status).toBe(404);
    expect(destroyed.body.error.message).toBe(
      'Version 2 of secret TOKEN in environment "keep" was destroyed (only the newest versions are kept)',
    );
    expect((await call('GET', `${base('keep')}/TOKEN/value?version=3`)).body.value).toBe('token-3');
    const rows = await db
      .selectFrom('secret_versions as v')
      .innerJoin('secrets as s', 's.id', 'v.secret_id')
      .select(['v.version', 'v.ciphertext'])
      .where('s.environment', '=', 'keep')
      .where('v.version', 'in', [1, 2, 4])
      .execute();
    expect(rows.every((row) => row.ciphertext === null)).toBe(true);
    const sets = (await call('GET', `${base('keep')}/sets`)).body;
    expect(sets.find((s: { version: number }) => s.version === pinned).pinnedBy).toStrictEqual([
      'release:test-1',
    ]);
    const resolved = await resolveSecretSet(db, {
      vault: t.server.secretVault,
      environment: 'keep',
      setVersion: pinned,
      actor: 'system:test',
    });
    expect(resolved.values).toStrictEqual({ TOKEN: 'token-3' });
  });
});

describe('the API document', () => {
  test('describes every secrets route', async () => {
    const document = (await call('GET', '/api/openapi.json')).body;
    const paths = Object.keys(document.paths).filter((path) => path.startsWith('/api/secrets'));
    expect(paths).toContain('/api/secrets/environments/{environment}/{name}/value');
    expect(paths.length).toBeGreaterThanOrEqual(12);
  });
});

describe('what the next modules use', () => {
  test('resolveSecretSet decrypts a pinned set and audits names and HMACs, never values', async () => {
    const setVersion = await currentSecretSetVersion(db, 'production');
    const resolved = await resolveSecretSet(db, {
      vault: t.server.secretVault,
      environment: 'production',
      setVersion,
      actor: 'deployer-bob',
      purpose: 'release:42',
    });
    expect(resolved).toStrictEqual({
      environment: 'production',
      setVersion: 2,
      values: { APP_KEY: 'base64:shared-app-key', MAIL_PASSWORD: 'new mail password' },
    });
    const [entry] = (await call('GET', '/api/audit?action=secrets.resolve&actor=deployer-bob')).body;
    expect(entry).toMatchObject({
      outcome: 'success',
      target: 'secret-set:production@2',
      details: {
        environment: 'production',
        setVersion: 2,
        purpose: 'release:42',
        names: ['APP_KEY', 'MAIL_PASSWORD'],
      },
    });
    expect(entry.details.valueHmacs.APP_KEY).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(entry)).not.toContain('new mail password');
    await expect(
      resolveSecretSet(db, {
        vault: t.server.secretVault,
        environment: 'production',
        setVersion: 9,
        actor: 'deployer-bob',
      }),
    ).rejects.toThrowError('Environment "production" has no secret set version 9');
    const [failed] = (await call('GET', '/api/audit?action=secrets.resolve&outcome=failure')).body;
    expect(failed).toMatchObject({ actor: 'deployer-bob', details: { error: 'NOT_FOUND' } });
  });

  test("redactorForEnvironment hides the environment's values in logs", async () => {
    const redactor = await redactorForEnvironment(db, {
      vault: t.server.secretVault,
      environment: 'production',
      actor: 'system:pipelines',
    });
    expect(redactor.redact('smtp auth with new mail password ok')).toBe(
      'smtp auth with [redacted:MAIL_PASSWORD] ok',
    );
  });

  test('the envelope cipher keeps another module credential, bound to its row', async () => {
    const cipher = createEnvelopeCipher(t.server.secretVault, 'replication');
    const url = 'postgres://replicator:pa55@db.example.test/app';
    const token = await cipher.seal(url, 'link:1');
    expect(token).toMatch(/^slw1:[0-9a-f-]{36}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/);
    expect(token).not.toContain('pa55');
    expect(await cipher.open(token, 'link:1')).toBe(url);
    await expect(cipher.open(token, 'link:2')).rejects.toThrowError(
      'Cannot open the sealed value: it was altered, or belongs to another row or module',
    );
    await expect(
      createEnvelopeCipher(t.server.secretVault, 'notifications').open(token, 'link:1'),
    ).rejects.toThrowError(/belongs to another row or module/);
    await expect(cipher.open('not-a-token', 'link:1')).rejects.toThrowError(/not a Slipway envelope token/);
  });
});

describe('encryption at rest', () => {
  test('ciphertext is bound to environment, name and version: a moved value does not open', async () => {
    await setValue('bound', 'ONE', 'value-one');
    await setValue('bound', 'TWO', 'value-two');
    const rows = await db
      .selectFrom('secret_versions as v')
      .innerJoin('secrets as s', 's.id', 'v.secret_id')
      .select(['s.id', 's.name', 'v.nonce', 'v.ciphertext', 'v.data_key_id'])
      .where('s.environment', '=', 'bound')
      .orderBy('s.name')
      .execute();
    for (const row of rows) expect(row.ciphertext!.toString('latin1')).not.toContain('value-');
    const [one, two] = rows as [(typeof rows)[0], (typeof rows)[0]];
    await db
      .updateTable('secret_versions')
      .set({ nonce: one.nonce, ciphertext: one.ciphertext })
      .where('secret_id', '=', two.id)
      .execute();
    const read = await call('GET', `${base('bound')}/TWO/value`);
    expect(read.status).toBe(500);
    expect(read.body.error.message).toBe(
      'The stored value of TWO version 1 in "bound" does not authenticate: it was altered or moved',
    );
    expect(JSON.stringify(read.body)).not.toContain('value-one');
  });

  test('data-key rotation: new values use the new key at once; a job re-encrypts the old ones', async () => {
    await setValue('rotating', 'A', 'value-a');
    await setValue('rotating', 'B', 'value-b');
    const keyOf = async () =>
      db
        .selectFrom('secret_data_keys')
        .select(['id', 'retired_at'])
        .where('scope', '=', 'environment:rotating')
        .execute();
    const [old] = await keyOf();
    const rotated = await call('POST', `${base('rotating')}/data-key/rotate`);
    expect(rotated.body).toMatchObject({ environment: 'rotating', retired: 1 });
    expect(rotated.body.dataKeyId).not.toBe(old!.id);
    await setValue('rotating', 'C', 'value-c');
    await waitFor(async () => (await keyOf()).length === 1, 'the retired key to be destroyed');
    expect((await keyOf()).map((k) => k.id)).toStrictEqual([rotated.body.dataKeyId]);
    const versions = await db
      .selectFrom('secret_versions as v')
      .innerJoin('secrets as s', 's.id', 'v.secret_id')
      .select('v.data_key_id')
      .where('s.environment', '=', 'rotating')
      .execute();
    expect(versions.every((v) => v.data_key_id === rotated.body.dataKeyId)).toBe(true);
    for (const name of ['A', 'B', 'C']) {
      expect((await call('GET', `${base('rotating')}/${name}/value`)).body.value).toBe(
        `value-${name.toLowerCase()}`,
      );
    }
    const [job] = (
      await call('GET', '/api/audit?action=secrets.data-key.reencrypt&target=environment:rotating')
    ).body;
    expect(job).toMatchObject({ actor: 'system:secrets', details: { reencrypted: 2, destroyedKeys: 1 } });
  });
});
