import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseDotenv } from '../src/secrets/index.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';
import { runCli } from './support/cli.ts';

let t: TestServer;
let home: string;
let admin: Record<string, string>;
beforeAll(async () => {
  t = await startTestServer();
  home = await mkdtemp(join(tmpdir(), 'slipway-secrets-cli-'));
  admin = { SLIPWAY_CONFIG: join(home, 'config.json'), SLIPWAY_URL: t.url, SLIPWAY_TOKEN: t.adminToken };
});
afterAll(async () => {
  await t?.stop();
  await rm(home, { recursive: true, force: true });
});

const cli = (args: string[], input?: string, env = admin) =>
  runCli(args, { env, ...(input !== undefined ? { input } : {}) });

describe('slipway secrets, against a running server', () => {
  test('a sealed store says so and how to unseal; a generated key unseals it', async () => {
    const status = await cli(['secrets', 'status', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ sealed: true, rootKeySource: 'none' });
    const refused = await cli(['secrets', 'list', 'staging']);
    expect(refused.code).toBe(8);
    expect(refused.stderr).toContain(
      'Error: The secret store is sealed: Slipway was started without its root key\n',
    );
    expect(refused.stderr).toContain('`slipway secrets unseal`');

    const keyFile = join(home, 'root.key');
    const made = await cli(['secrets', 'generate-root-key', '--out', keyFile]);
    expect(made.stdout).toBe(`Wrote a new root key to ${keyFile} (mode 0600)\n`);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const again = await cli(['secrets', 'generate-root-key', '--out', keyFile]);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(
      `Error: Cannot write the root key: ${keyFile} exists\nChoose a new file name; a root key file is never overwritten\n`,
    );
    const unsealed = await cli(['secrets', 'unseal'], await readFile(keyFile, 'utf8'));
    expect(unsealed.stdout).toMatch(/^Unsealed with root key local:[0-9a-f]{16}\n$/);
  });

  test('set reads the value from standard input; get prints exactly the value; list and history show no value', async () => {
    const set = await cli(
      ['secrets', 'set', 'staging', 'DB_PASSWORD', '--reason', 'initial'],
      'pa55 "word"\n',
    );
    expect(set).toStrictEqual({
      code: 0,
      stdout: 'Set DB_PASSWORD in staging: version 1, secret set version 1\n',
      stderr: '',
    });
    expect((await cli(['secrets', 'set', 'staging', 'DB_PASSWORD'], 'pa55 "word"\n')).stdout).toBe(
      'DB_PASSWORD in staging already has this value (version 1); nothing changed\n',
    );
    const empty = await cli(['secrets', 'set', 'staging', 'EMPTY'], '');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('Error: Cannot set EMPTY: the value is empty\n');
    expect((await cli(['secrets', 'set', 'staging', 'EMPTY', '--allow-empty'], '')).code).toBe(0);
    expect(
      (await cli(['secrets', 'set', 'staging', 'DB_PASSWORD', '--reason', 'rotated'], 'second\n')).code,
    ).toBe(0);

    const get = await cli(['secrets', 'get', 'staging', 'DB_PASSWORD']);
    expect(get).toStrictEqual({ code: 0, stdout: 'second', stderr: '' });
    expect((await cli(['secrets', 'get', 'staging', 'DB_PASSWORD', '--at', '1'])).stdout).toBe('pa55 "word"');

    const list = await cli(['secrets', 'list', 'staging']);
    expect(list.stdout).toMatch(/^Environment staging, secret set version 3\nNAME +VERSION +FINGERPRINT/);
    expect(list.stdout).toMatch(/\nDB_PASSWORD +2 +[0-9a-f]{12} +\S+ +admin +live +rotated\n/);
    expect(list.stdout).not.toContain('second');
    const history = JSON.parse(
      (await cli(['secrets', 'history', 'staging', 'DB_PASSWORD', '--json'])).stdout,
    );
    expect(
      history.versions.map((v: { version: number; reason: string }) => [v.version, v.reason]),
    ).toStrictEqual([
      [2, 'rotated'],
      [1, 'initial'],
    ]);
  });

  test('rollback, delete, restore and the set history', async () => {
    expect((await cli(['secrets', 'rollback', 'staging', 'DB_PASSWORD', '--to', '1'])).stdout).toBe(
      'Rolled DB_PASSWORD in staging back to the value of version 1: now version 3, secret set version 4\n',
    );
    expect((await cli(['secrets', 'get', 'staging', 'DB_PASSWORD'])).stdout).toBe('pa55 "word"');
    expect((await cli(['secrets', 'rollback', 'staging', 'DB_PASSWORD', '--to', 'latest'])).code).toBe(2);
    expect((await cli(['secrets', 'delete', 'staging', 'EMPTY', '--reason', 'unused'])).stdout).toBe(
      'Deleted EMPTY from staging: secret set version 5\n',
    );
    const gone = await cli(['secrets', 'get', 'staging', 'EMPTY']);
    expect(gone.code).toBe(5);
    expect(gone.stderr).toBe(
      'Error: Secret EMPTY in environment "staging" is deleted\n' +
        'Restore it with `slipway secrets restore staging EMPTY`, or set a new value\n',
    );
    expect((await cli(['secrets', 'restore', 'staging', 'EMPTY'])).stdout).toBe(
      'Restored EMPTY in staging (version 1): secret set version 6\n',
    );
    const sets = await cli(['secrets', 'set-history', 'staging']);
    expect(sets.stdout).toMatch(/^VERSION +CREATED +BY +SECRETS +CHANGES +REASON\n6 .* restore EMPTY/);
    const members = await cli(['secrets', 'set-history', 'staging', '4']);
    expect(members.stdout).toBe(
      'Secret set version 4 of staging\nNAME         VERSION\nDB_PASSWORD  3\nEMPTY        1\n',
    );
  });

  test('import a .env file (export prefixes, quotes, multi-line values) and export it back', async () => {
    const file = join(home, 'production.env');
    await writeFile(
      file,
      [
        '# production credentials',
        'export APP_KEY=base64:c2VjcmV0LWFwcC1rZXk=',
        'DB_PASSWORD="with \\"quotes\\" and $dollar"',
        "MAIL_PASSWORD='single # not a comment'",
        'PRIVATE_KEY="-----BEGIN KEY-----',
        'abc123',
        '-----END KEY-----"',
        '',
      ].join('\n'),
    );
    const imported = await cli(['secrets', 'import', 'production', file, '--reason', 'first import']);
    expect(imported.stdout).toBe(
      'Imported into production: 4 created, 0 updated, 0 unchanged, 0 deleted; secret set version 1\n',
    );
    expect((await cli(['secrets', 'get', 'production', 'PRIVATE_KEY'])).stdout).toBe(
      '-----BEGIN KEY-----\nabc123\n-----END KEY-----',
    );

    const bad = join(home, 'bad.env');
    await writeFile(bad, 'GOOD=1\ndb_password=x\nGOOD=2\n');
    const refused = await cli(['secrets', 'import', 'production', bad]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `Error: Cannot import ${bad}: line 2: db_password is not a secret name; line 3: GOOD was already set on line 1\n`,
    );
    const broken = join(home, 'broken.env');
    await writeFile(broken, 'A="never closed\nB=2\n');
    expect((await cli(['secrets', 'import', 'production', broken])).stderr).toContain(
      'Error: Cannot read the .env text: line 1: a double-quoted value is not closed\n',
    );

    const out = join(home, 'exported.env');
    const exported = await cli(['secrets', 'export', 'production', '--out', out]);
    expect(exported.stderr).toBe(`Wrote 4 secrets of production to ${out} (mode 0600)\n`);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const original = parseDotenv(await readFile(file, 'utf8')).entries.map(({ name, value }) => [
      name,
      value,
    ]);
    const roundTrip = parseDotenv(await readFile(out, 'utf8')).entries.map(({ name, value }) => [
      name,
      value,
    ]);
    expect(roundTrip).toStrictEqual([...original].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)));
    expect((await cli(['secrets', 'export', 'production'])).stdout).toBe(await readFile(out, 'utf8'));

    const matrix = await cli(['secrets', 'matrix']);
    expect(matrix.stdout).toMatch(/\nDB_PASSWORD +v1 +v3 *\n/);
    expect(matrix.stdout).toMatch(/\nEMPTY +MISSING +v1 *\n/);
  });

  test('a viewer reads names only; reading a value is refused (exit 4) and audited', async () => {
    const viewer = await t.userWithRoles('cli-viewer', ['viewer@environment:staging']);
    const env = { ...admin, SLIPWAY_TOKEN: viewer };
    expect((await cli(['secrets', 'list', 'staging'], undefined, env)).code).toBe(0);
    const refused = await cli(['secrets', 'get', 'staging', 'DB_PASSWORD'], undefined, env);
    expect(refused.code).toBe(4);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain(
      'Error: Not allowed: user "cli-viewer" needs role "admin" on environment:staging\n',
    );
    const setRefused = await cli(['secrets', 'set', 'staging', 'DB_PASSWORD'], 'sneaky-value\n', env);
    expect(setRefused.code).toBe(4);
    const entries = (
      await t.inject('GET', '/api/audit?actor=cli-viewer&outcome=denied', { token: t.adminToken })
    ).json();
    expect(entries.map((e: { action: string }) => e.action)).toStrictEqual(['secrets.set', 'secrets.read']);
    expect(JSON.stringify(entries)).not.toContain('sneaky-value');
  });

  test('rotate the data key and the root key from the CLI', async () => {
    expect((await cli(['secrets', 'rotate-data-key', 'staging'])).stdout).toMatch(
      /^New data key [0-9a-f-]{36} for staging; re-encrypting older values in the background\n$/,
    );
    const newKey = join(home, 'new-root.key');
    await cli(['secrets', 'generate-root-key', '--out', newKey]);
    const rotated = await cli(
      ['secrets', 'rotate-root-key', '--new-key-file', newKey],
      await readFile(join(home, 'root.key'), 'utf8'),
    );
    expect(rotated.stdout).toMatch(
      new RegExp(
        `^Rotated the root key to local:[0-9a-f]{16}: re-wrapped \\d+ keys\nKeep ${newKey}: the server needs it`,
      ),
    );
    expect((await cli(['secrets', 'get', 'staging', 'DB_PASSWORD'])).stdout).toBe('pa55 "word"');
    const stale = await cli(['secrets', 'unseal'], await readFile(join(home, 'root.key'), 'utf8'));
    expect(stale.code).toBe(2);
    expect(stale.stderr).toMatch(/^Error: This root key does not open the secret store/);
  });
});
