/**
 * A host agent reads exactly its own environment's APT channel with its host credential (as apt
 * sends it: the HTTP Basic password, or a bearer token), and nothing else new: another environment's
 * channel is refused (403), and every user route stays closed to it (401).
 */
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTestDeb } from '../src/artifacts/testing.ts';
import { issueJoinToken } from '../src/environments/index.ts';
import { seedHost } from '../src/environments/testing.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';
import { joinSeededHost } from './environments-support.ts';

const PACKAGE = 'slipway-rt-access';
/** The reviewed public routes (test/api-security.test.ts): anyone may call them. */
const PUBLIC = new Set(['/healthz', '/readyz', '/metrics', '/api/auth/login', '/api/auth/token']);
let dir: string;
let t: TestServer;
let credential: string;
let joinToken: string;
let poolPath: string;
let packagesHash: string;

function basic(password: string, login = 'slipway-agent'): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}` };
}

async function asAgent(path: string, headers = basic(credential)) {
  return t.inject('GET', path, { headers });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-rt-access-'));
  await chmod(dir, 0o711);
  t = await startTestServer({ dataDir: join(dir, 'data') });
  const db = t.server.store.db;
  credential = await joinSeededHost(t, 'rtaccess', 'app-1');
  const other = await seedHost(db, 'rtother', 'app-1');
  joinToken = await issueJoinToken(db, other, new Date());

  const deb = await buildTestDeb({ name: PACKAGE, version: '1.0', outDir: dir });
  const upload = await fetch(`${t.url}/api/artifacts/${PACKAGE}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.adminToken}` },
    body: await readFile(deb),
  });
  expect(upload.status).toBe(201);
  for (const channel of ['rtaccess', 'rtother']) {
    const promoted = await t.inject('POST', `/api/artifacts/${PACKAGE}/1.0/promote`, {
      token: t.adminToken,
      body: { channel },
    });
    expect(promoted.statusCode).toBe(200);
  }
  const packages = (
    await t.inject('GET', '/apt/dists/rtaccess/main/binary-amd64/Packages', { token: t.adminToken })
  ).body;
  poolPath = /^Filename: (.+)$/m.exec(packages)![1]!;
  const release = (await t.inject('GET', '/apt/dists/rtaccess/Release', { token: t.adminToken })).body;
  packagesHash = /^ ([0-9a-f]{64}) +\d+ main\/binary-amd64\/Packages$/m.exec(release)![1]!;
}, 120_000);

afterAll(async () => {
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the APT channel of a host agent', () => {
  test('its host credential reads its own environment channel, as the Basic password or a bearer token', async () => {
    for (const path of [
      '/apt/dists/rtaccess/InRelease',
      '/apt/dists/rtaccess/Release',
      '/apt/dists/rtaccess/main/binary-amd64/Packages',
      '/apt/dists/rtaccess/main/binary-amd64/Packages.gz',
      `/apt/dists/rtaccess/main/binary-amd64/by-hash/SHA256/${packagesHash}`,
      `/apt/${poolPath}`,
    ]) {
      expect({ path, status: (await asAgent(path)).statusCode }).toStrictEqual({ path, status: 200 });
    }
    const bearer = await asAgent('/apt/dists/rtaccess/InRelease', { authorization: `Bearer ${credential}` });
    expect(bearer.statusCode).toBe(200);
    expect(bearer.body).toContain('Codename: rtaccess');
  });

  test("another environment's channel is refused with 403, naming what the host may read", async () => {
    const refused = await asAgent('/apt/dists/rtother/InRelease');
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toMatchObject({
      code: 'FORBIDDEN',
      message:
        'Not allowed: host:rtaccess/app-1 may read only what belongs to environment:rtaccess, not environment:rtother',
      hint: "A host agent reads its own environment only: promote the version to that environment's channel",
    });
    const pool = await asAgent(`/apt/${poolPath.replace('pool/rtaccess/', 'pool/rtother/')}`);
    expect(pool.statusCode).toBe(403);
  });

  test('every other route stays closed to it (401), and a join token opens no channel', async () => {
    const opened: string[] = [];
    for (const { method, url } of t.server.registeredRoutes) {
      if (method === 'OPTIONS' || method === 'HEAD' || url.startsWith('/api/agent/')) continue;
      const concrete = url
        .replace(':channel', 'rtother')
        .replace(':file', url.includes('binary-amd64') ? 'Packages' : 'InRelease')
        .replace(':hash', 'a'.repeat(64))
        .replace(/:[A-Za-z]+/g, 'someone')
        .replace('*', 'x');
      const response = await t.inject(method, concrete, {
        headers: basic(credential),
        ...(method === 'GET' ? {} : { body: {} }),
      });
      const expected = url.startsWith('/apt/dists/') || url.startsWith('/apt/pool/') ? 403 : 401;
      if (PUBLIC.has(url) || url === '/' || /^\/(index\.html|assets\/|favicon)/.test(url)) continue;
      if (response.statusCode !== expected) opened.push(`${method} ${url}: ${response.statusCode}`);
    }
    expect(opened).toStrictEqual([]);
    const whoami = await asAgent('/api/whoami');
    expect(whoami.json().error.message).toBe('A host credential cannot call this route');
    const key = await asAgent('/apt/slipway.asc');
    expect(key.statusCode).toBe(401);
    const withJoinToken = await asAgent('/apt/dists/rtother/InRelease', basic(joinToken));
    expect(withJoinToken.statusCode).toBe(401);
    // A user API token as the Basic password still works as before.
    expect((await asAgent('/apt/dists/rtaccess/InRelease', basic(t.adminToken))).statusCode).toBe(200);
  });
});
