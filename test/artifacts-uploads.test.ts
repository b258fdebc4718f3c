/**
 * Uploads into the artifact repository: streamed, checked, immutable and atomic. A truncated upload,
 * a checksum mismatch and a different file under a stored version are refused and leave the
 * repository exactly as it was; the same file again is a no-op. Downloads honour Range.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTestDeb } from '../src/artifacts/testing.ts';
import { api, type PipelineTestServer, startPipelineServer } from './pipelines-support.ts';

let t: PipelineTestServer;
let deb: Buffer;
let other: Buffer;
let large: Buffer;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function upload(app: string, body: Buffer, query = '') {
  const response = await fetch(`${t.url}/api/artifacts/${app}${query}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${t.adminToken}`,
      'content-type': 'application/vnd.debian.binary-package',
    },
    body,
  });
  return { status: response.status, json: (await response.json()) as any };
}

/** Everything visible: the versions listed, and the files under the repository's directory. */
async function repositoryState() {
  const dir = join(t.dataDir, 'artifacts');
  const files = async (path: string): Promise<string[]> => {
    const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
    const nested = await Promise.all(
      entries.map((e) =>
        e.isDirectory() ? files(join(path, e.name)) : [join(path, e.name).slice(dir.length)],
      ),
    );
    return nested.flat().sort();
  };
  return { versions: await api(t, 'GET', '/api/artifacts?limit=1000'), files: await files(dir) };
}

beforeAll(async () => {
  t = await startPipelineServer();
  deb = await readFile(await buildTestDeb({ name: 'uploaded', version: '1.0.0' }));
  other = await readFile(
    await buildTestDeb({ name: 'uploaded', version: '1.0.0', content: 'another build' }),
  );
  large = await readFile(await buildTestDeb({ name: 'uploaded', version: '2.0.0', payloadBytes: 4 << 20 }));
});
afterAll(async () => {
  await t?.stopAll();
});

describe('uploading', () => {
  test('stores a .deb under the version its control file names, content-addressed', async () => {
    const stored = await upload('uploaded', deb, `?sha256=${sha256(deb)}`);
    expect(stored.status).toBe(201);
    expect(stored.json).toMatchObject({
      created: true,
      artifact: {
        app: 'uploaded',
        package: 'uploaded',
        version: '1.0.0',
        architecture: 'all',
        sha256: sha256(deb),
        size: deb.length,
        filename: 'uploaded_1.0.0_all.deb',
      },
    });
    const blob = join(t.dataDir, 'artifacts', 'blobs', 'sha256', sha256(deb).slice(0, 2), sha256(deb));
    expect(sha256(await readFile(blob))).toBe(sha256(deb));
  });

  test('the same file again is a no-op (200, not created)', async () => {
    const again = await upload('uploaded', deb);
    expect(again.status).toBe(200);
    expect(again.json.created).toBe(false);
  });

  test('a different file under a stored version is 409 and changes nothing', async () => {
    const before = await repositoryState();
    const conflict = await upload('uploaded', other);
    expect(conflict.status).toBe(409);
    expect(conflict.json.error.message).toBe(
      `Cannot store version "1.0.0" of app "uploaded": that version holds another file (sha256 ${sha256(deb).slice(0, 12)}…, this one is ${sha256(other).slice(0, 12)}…)`,
    );
    expect(await repositoryState()).toStrictEqual(before);
  });

  test('a checksum mismatch is refused and changes nothing', async () => {
    const before = await repositoryState();
    const mismatch = await upload('uploaded', large, `?sha256=${sha256(deb)}`);
    expect(mismatch.status).toBe(400);
    expect(mismatch.json.error.message).toBe(
      `Cannot store the upload: its SHA-256 is ${sha256(large)} but ${sha256(deb)} was announced`,
    );
    expect(await repositoryState()).toStrictEqual(before);
  });

  test('a truncated upload (the connection drops mid-body) is refused and leaves nothing', async () => {
    const before = await repositoryState();
    const { hostname: host, port } = new URL(t.url);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), host, () => {
        socket.write(
          `POST /api/artifacts/uploaded HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${t.adminToken}\r\n` +
            `Content-Type: application/octet-stream\r\nContent-Length: ${large.length}\r\n\r\n`,
        );
        socket.write(large.subarray(0, large.length / 2), () => setTimeout(() => socket.destroy(), 200));
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    // The server notices, and the audit log says the upload failed.
    const deadline = Date.now() + 10_000;
    let entries: any[] = [];
    while (Date.now() < deadline) {
      entries = await api(t, 'GET', '/api/audit?action=artifacts.upload&outcome=failure');
      if (entries.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(entries[0]).toMatchObject({
      action: 'artifacts.upload',
      outcome: 'failure',
      details: { error: 'INVALID_INPUT' },
    });
    expect(await repositoryState()).toStrictEqual(before);
  });

  test('what is not a Debian package is refused', async () => {
    const before = await repositoryState();
    const junk = await upload('uploaded', Buffer.from('not a package at all'));
    expect(junk.status).toBe(400);
    expect(junk.json.error.message).toMatch(
      /^Cannot store the upload: it is not a Debian package dpkg-deb can read: /,
    );
    expect(await repositoryState()).toStrictEqual(before);
  });

  test('a package name another app publishes is refused', async () => {
    const stolen = await upload('thief', deb);
    expect(stolen.status).toBe(409);
    expect(stolen.json.error.message).toBe(
      'Cannot store package "uploaded" for app "thief": app "uploaded" publishes that package',
    );
  });
});

describe('downloading', () => {
  test('the whole file, and byte ranges of it', async () => {
    expect((await upload('uploaded', large, `?sha256=${sha256(large)}`)).status).toBe(201);
    const url = `${t.url}/api/artifacts/uploaded/2.0.0/file`;
    const headers = { authorization: `Bearer ${t.adminToken}` };
    const whole = await fetch(url, { headers });
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(whole.headers.get('content-disposition')).toBe('attachment; filename="uploaded_2.0.0_all.deb"');
    expect(sha256(Buffer.from(await whole.arrayBuffer()))).toBe(sha256(large));

    const middle = await fetch(url, { headers: { ...headers, range: 'bytes=1000-1999' } });
    expect(middle.status).toBe(206);
    expect(middle.headers.get('content-range')).toBe(`bytes 1000-1999/${large.length}`);
    expect(Buffer.from(await middle.arrayBuffer())).toStrictEqual(large.subarray(1000, 2000));

    const tail = await fetch(url, { headers: { ...headers, range: 'bytes=-100' } });
    expect(Buffer.from(await tail.arrayBuffer())).toStrictEqual(large.subarray(large.length - 100));
    const rest = await fetch(url, { headers: { ...headers, range: `bytes=${large.length - 10}-` } });
    expect(Buffer.from(await rest.arrayBuffer())).toStrictEqual(large.subarray(large.length - 10));

    const beyond = await fetch(url, { headers: { ...headers, range: `bytes=${large.length}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${large.length}`);
  });
});

describe('retention', () => {
  test('keeps the newest versions plus every promoted or deployed one', async () => {
    for (const version of ['3.0.1', '3.0.2', '3.0.3', '3.0.4']) {
      const file = await readFile(await buildTestDeb({ name: 'kept', version }));
      expect((await upload('kept', file)).status).toBe(201);
    }
    await api(t, 'POST', '/api/artifacts/kept/3.0.1/promote', { channel: 'staging' });
    // The pipeline applies retention after each publish; here it is called directly.
    const { openArtifactRepository } = await import('../src/artifacts/index.ts');
    const repository = openArtifactRepository({ db: t.server.store.db, dataDir: t.dataDir });
    await repository.markDeployed({ app: 'kept', version: '3.0.2', environment: 'integration' });
    expect(await repository.applyRetention('kept', 1)).toStrictEqual(['3.0.3']);
    const left = (await api(t, 'GET', '/api/artifacts?app=kept')).map((a: any) => [
      a.version,
      a.channels,
      a.deployedTo,
    ]);
    expect(left).toStrictEqual([
      ['3.0.4', [], []],
      ['3.0.2', [], ['integration']],
      ['3.0.1', ['staging'], []],
    ]);
  });
});
