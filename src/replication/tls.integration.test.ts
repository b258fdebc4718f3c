/**
 * Links over TLS with sslmode=verify-full: a source cluster serving a certificate from a test CA, an
 * applier that verifies it, and a refusal (without the connection string) when the CA does not match.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startPostgres, type TestPostgres } from '../store/testing.ts';
import { installLink } from './link-setup.ts';
import { runSql, startApplier, waitForCatchUp } from './testing.ts';

const run = promisify(execFile);

async function makeCertificates(dir: string, name: string): Promise<void> {
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name} CA`,
    '-keyout',
    `${name}-ca.key`,
    '-out',
    `${name}-ca.crt`,
  );
  await openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    `${name}-server.key`,
    '-out',
    `${name}-server.csr`,
  );
  await run(
    'bash',
    [
      '-c',
      `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ${name}.ext && openssl x509 -req -in ${name}-server.csr -CA ${name}-ca.crt -CAkey ${name}-ca.key -CAcreateserial -days 2 -extfile ${name}.ext -out ${name}-server.crt`,
    ],
    { cwd: dir },
  );
}

let dir: string;
let source: TestPostgres;
let target: TestPostgres;
let verifiedUrl: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-tls-'));
  await chmod(dir, 0o711);
  await makeCertificates(dir, 'good');
  await makeCertificates(dir, 'other');
  if (process.getuid?.() === 0) {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    for (const file of ['good-server.key', 'good-server.crt']) await chown(join(dir, file), uid, gid);
  }
  await chmod(join(dir, 'good-server.key'), 0o600);
  [source, target] = await Promise.all([
    startPostgres({
      settings: {
        ssl: 'on',
        ssl_cert_file: `'${join(dir, 'good-server.crt')}'`,
        ssl_key_file: `'${join(dir, 'good-server.key')}'`,
      },
    }),
    startPostgres(),
  ]);
  verifiedUrl = `${source.url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(join(dir, 'good-ca.crt'))}`;
  for (const url of [source.url, target.url])
    await runSql(url, 'CREATE TABLE t (id integer PRIMARY KEY, v text)');
  await runSql(source.url, `INSERT INTO t SELECT i, 'row ' || i FROM generate_series(1, 100) i`);
});
afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('links over TLS (sslmode=verify-full)', () => {
  test('the applier reaches a source whose certificate it verifies, over an encrypted connection', async () => {
    await installLink('tls', { source: verifiedUrl, target: target.url }, { tables: ['public.t'] });
    const applier = startApplier('tls', { source: { url: verifiedUrl }, target });
    try {
      await runSql(source.url, `UPDATE t SET v = 'changed' WHERE id <= 10`);
      await waitForCatchUp('tls', { source: { url: verifiedUrl }, target });
      const [row] = await runSql<{ n: number }>(
        target.url,
        `SELECT count(*)::int AS n FROM t WHERE v = 'changed'`,
      );
      expect(row!.n).toBe(10);
      const [tls] = await runSql<{ n: number }>(
        source.url,
        `SELECT count(*)::int AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
          WHERE a.application_name = 'slipway-applier:tls' AND s.ssl`,
      );
      expect(tls!.n).toBe(1);
    } finally {
      await applier.stop();
    }
  });

  test('a certificate from another authority is refused, and the message holds no connection string', async () => {
    const wrongCa = `${source.url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(join(dir, 'other-ca.crt'))}`;
    const failure = await installLink(
      'tls-wrong',
      { source: wrongCa, target: target.url },
      { tables: ['public.t'] },
    ).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(failure?.message).toBe(
      'Cannot reach the source database of replication link "tls-wrong": the TLS connection could not be verified (check sslmode, sslrootcert and the server certificate)',
    );
    expect(failure?.message).not.toContain(source.password);
  });
});
