/**
 * The APT signing key at rest: sealed with the secret store's envelope encryption, in the database,
 * when the store has a root key; a 0600 file in the data directory otherwise; the same key across restarts; and while the store is sealed a
 * sealed key cannot sign (503, saying why), though indexes signed before keep being served.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import * as openpgp from 'openpgp';
import { afterAll, describe, expect, test } from 'vitest';
import { buildTestDeb } from '../src/artifacts/testing.ts';
import { generateRootKey } from '../src/secrets/index.ts';
import { api, type PipelineTestServer, startPipelineServer } from './pipelines-support.ts';

const execFileAsync = promisify(execFile);
const servers: PipelineTestServer[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const server of servers) await server.stopAll();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function publishAndPromote(t: PipelineTestServer, version: string) {
  const deb = await readFile(await buildTestDeb({ name: 'signed-app', version }));
  const uploaded = await fetch(`${t.url}/api/artifacts/signed-app`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.adminToken}` },
    body: deb,
  });
  expect(uploaded.status).toBe(201);
  return t.inject('POST', `/api/artifacts/signed-app/${version}/promote`, {
    token: t.adminToken,
    body: { channel: 'staging' },
  });
}

/** Checks InRelease with gpgv against the key the server hands out; returns the key's fingerprint. */
async function verifyInRelease(t: PipelineTestServer): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-gpgv-'));
  dirs.push(dir);
  const key = (await t.inject('GET', '/apt/slipway.gpg', { token: t.adminToken })).rawPayload;
  await writeFile(join(dir, 'key.gpg'), key);
  await writeFile(
    join(dir, 'InRelease'),
    (await t.inject('GET', '/apt/dists/staging/InRelease', { token: t.adminToken })).rawPayload,
  );
  const { stderr } = await execFileAsync('gpgv', ['--keyring', join(dir, 'key.gpg'), join(dir, 'InRelease')]);
  expect(stderr).toContain('Good signature from "Slipway artifact repository <slipway@localhost>"');
  const parsed = await openpgp.readKey({ binaryKey: key });
  expect(parsed.keyPacket.version).toBe(4);
  return parsed.getFingerprint();
}

describe('the APT signing key', () => {
  test('without a root key it is a file only Slipway can read', async () => {
    const t = await startPipelineServer({ rootKey: undefined });
    servers.push(t);
    expect((await publishAndPromote(t, '1.0.0')).statusCode).toBe(200);
    await verifyInRelease(t);
    const path = join(t.dataDir, 'artifacts', 'signing-key.asc');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, 'utf8')).toMatch(/^-----BEGIN PGP PRIVATE KEY BLOCK-----/);
    const { rows } = await sql`SELECT 1 FROM artifact_signing_keys`.execute(t.server.store.db);
    expect(rows).toHaveLength(0);
  });

  test('with a root key it is sealed by the secret store, and stays the same key across restarts', async () => {
    const rootKey = generateRootKey();
    const t = await startPipelineServer({ rootKey });
    servers.push(t);
    expect((await publishAndPromote(t, '1.0.0')).statusCode).toBe(200);
    const fingerprint = await verifyInRelease(t);
    // Sealed in the database, next to the data keys that open it; no plain copy is left on disk.
    const { rows } = await sql<{ sealed: string }>`SELECT sealed FROM artifact_signing_keys`.execute(
      t.server.store.db,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.sealed).toMatch(/^slw1:/);
    await expect(stat(join(t.dataDir, 'artifacts', 'signing-key.asc'))).rejects.toThrow();

    await t.stopServer();
    await t.restartServer();
    expect((await publishAndPromote(t, '1.0.1')).statusCode).toBe(200);
    expect(await verifyInRelease(t)).toBe(fingerprint);
  });

  test('a sealed key cannot sign while the store is sealed; what was signed is still served', async () => {
    const t = await startPipelineServer({ rootKey: generateRootKey() });
    servers.push(t);
    expect((await publishAndPromote(t, '1.0.0')).statusCode).toBe(200);
    // Restarted, the server opens the key from its sealed file; sealing the store takes the key away.
    await t.stopServer();
    await t.restartServer();
    expect((await publishAndPromote(t, '1.0.1')).statusCode).toBe(200);
    const before = (await t.inject('GET', '/apt/dists/staging/InRelease', { token: t.adminToken })).body;
    t.server.secretVault.seal('sealed by the test');
    const refused = await publishAndPromote(t, '1.0.2');
    expect(refused.statusCode).toBe(503);
    expect(refused.json().error.message).toBe('The secret store is sealed: sealed by the test');
    const served = await t.inject('GET', '/apt/dists/staging/InRelease', { token: t.adminToken });
    expect(served.statusCode).toBe(200);
    expect(served.body).toBe(before);
    const inChannel = await api(t, 'GET', '/api/artifacts?channel=staging');
    expect(inChannel.map((a: { version: string }) => a.version)).toStrictEqual(['1.0.1', '1.0.0']);
  });
});
