import { createHash, pbkdf2, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { BlobStore } from './blob-store.ts';
import { UploadRejectedError } from './errors.ts';

let dir: string;
let store: BlobStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-blobs-'));
  store = new BlobStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The data cut into pieces of uneven sizes, as a network would deliver them. */
function unevenChunks(data: Buffer): Readable {
  const sizes = [1, 7, 65_536, 300_000, 1 << 20, 13];
  let offset = 0;
  let i = 0;
  return new Readable({
    read() {
      if (offset >= data.length) {
        this.push(null);
        return;
      }
      const size = sizes[i++ % sizes.length]!;
      this.push(data.subarray(offset, offset + size));
      offset += size;
    },
  });
}

describe('BlobStore.stage', () => {
  test('hashes and writes what arrives in pieces, past the background syncs, then commits it', async () => {
    const data = randomBytes((70 << 20) + 12_345); // more than two background fdatasyncs
    const sha256 = createHash('sha256').update(data).digest('hex');
    const staged = await store.stage(unevenChunks(data), { maxBytes: Infinity, expectedSize: data.length });
    expect(staged).toMatchObject({ sha256, size: data.length });
    expect(await store.has(sha256)).toBe(false);
    const path = await store.commit(staged);
    expect(path).toBe(store.pathOf(sha256));
    expect((await readFile(path)).equals(data)).toBe(true);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });

  test('an empty body is a blob like any other', async () => {
    const staged = await store.stage(Readable.from([]), { maxBytes: 10 });
    expect(staged).toMatchObject({
      size: 0,
      sha256: createHash('sha256').update(Buffer.alloc(0)).digest('hex'),
    });
    await store.discard(staged);
  });

  test('refuses a stream over the limit, a wrong digest and a source that fails, leaving no file', async () => {
    const data = randomBytes(3 << 20);
    await expect(store.stage(unevenChunks(data), { maxBytes: 2 << 20 })).rejects.toThrow(
      /larger than the limit of 2097152 bytes/,
    );
    await expect(
      store.stage(unevenChunks(data), { maxBytes: Infinity, expectedSha256: 'f'.repeat(64) }),
    ).rejects.toThrow(/its SHA-256 is [0-9a-f]{64} but f{64} was announced/);
    const failing = new Readable({
      read() {
        this.push(data.subarray(0, 1 << 20));
        this.destroy(new Error('connection reset'));
      },
    });
    const error = await store.stage(failing, { maxBytes: Infinity }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UploadRejectedError);
    expect((error as Error).message).toMatch(/the transfer ended early after \d+ bytes/);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });

  test('a source that fails while the file is still being created leaves no file', async () => {
    // With the thread pool busy, the file's creation is still pending when the source fails: the
    // staging waits for it to be created and closed before it removes it.
    for (let round = 0; round < 60; round++) {
      const busy = Array.from(
        { length: 3 },
        () => new Promise((resolve) => pbkdf2('busy', 'salt', 20_000, 32, 'sha256', resolve)),
      );
      const failing = new Readable({
        read() {
          this.push(Buffer.alloc(1 << 16));
          this.destroy(new Error('connection reset'));
        },
      });
      await expect(store.stage(failing, { maxBytes: Infinity })).rejects.toThrow(/ended early/);
      await Promise.all(busy);
      expect({ round, left: await readdir(join(dir, 'tmp')) }).toStrictEqual({ round, left: [] });
    }
  });
});
