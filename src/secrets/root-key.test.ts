import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateRootKey, LocalRootKey, loadRootKey } from './root-key.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-root-key-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('LocalRootKey', () => {
  test('reads base64, base64url and hex; names itself by a fingerprint', () => {
    const text = generateRootKey();
    const bytes = Buffer.from(text, 'base64');
    const a = LocalRootKey.fromText(text);
    expect(LocalRootKey.fromText(bytes.toString('hex')).keyId).toBe(a.keyId);
    expect(LocalRootKey.fromText(`  ${bytes.toString('base64url')}\n`).keyId).toBe(a.keyId);
    expect(a.keyId).toMatch(/^local:[0-9a-f]{16}$/);
    expect(LocalRootKey.fromText(generateRootKey()).keyId).not.toBe(a.keyId);
  });

  test('refuses malformed key text without repeating it', () => {
    const attempt = 'short-SECRETISH-text';
    expect(() => LocalRootKey.fromText(attempt, 'from the test')).toThrowError(
      'Cannot read the root key from the test: it must be 32 random bytes, written as base64 or hex',
    );
    expect(() => LocalRootKey.fromText(Buffer.alloc(31).toString('base64'))).toThrowError(/32 random bytes/);
  });

  test('wraps and unwraps; another key, another context or altered bytes do not open', async () => {
    const key = LocalRootKey.fromText(generateRootKey());
    const other = LocalRootKey.fromText(generateRootKey());
    const dataKey = Buffer.alloc(32, 7);
    const context = { purpose: 'data-key', scope: 'environment:staging', id: 'k1' };
    const wrapped = await key.wrapKey(dataKey, context);
    expect(wrapped.includes(dataKey)).toBe(false);
    expect(await key.unwrapKey(wrapped, context)).toStrictEqual(dataKey);
    await expect(other.unwrapKey(wrapped, context)).rejects.toThrowError(
      'Cannot unwrap data-key: the root key does not match, or the stored key was altered',
    );
    await expect(
      key.unwrapKey(wrapped, { ...context, scope: 'environment:production' }),
    ).rejects.toThrowError(/Cannot unwrap/);
    const altered = Buffer.from(wrapped);
    altered[20] = altered[20]! ^ 1;
    await expect(key.unwrapKey(altered, context)).rejects.toThrowError(/Cannot unwrap/);
    key.destroy();
    await expect(key.unwrapKey(wrapped, context)).rejects.toThrowError(/Cannot unwrap/);
  });
});

describe('loadRootKey()', () => {
  test('reads a key file and warns when others can read it', async () => {
    const file = join(dir, 'root.key');
    const text = generateRootKey();
    await writeFile(file, `${text}\n`, { mode: 0o644 });
    await chmod(file, 0o644);
    const loose = await loadRootKey({ file });
    expect(loose.key?.keyId).toBe(LocalRootKey.fromText(text).keyId);
    expect(loose.warnings).toStrictEqual([
      `The root key file ${file} can be read by others (mode 644); chmod 600 it`,
    ]);
    await chmod(file, 0o600);
    expect((await loadRootKey({ file })).warnings).toStrictEqual([]);
  });

  test('says why there is no key, without failing', async () => {
    expect(await loadRootKey({})).toStrictEqual({ source: 'none', warnings: [] });
    const missing = await loadRootKey({ file: join(dir, 'missing.key') });
    expect(missing).toMatchObject({
      source: 'file',
      problem: `cannot read the root key file ${join(dir, 'missing.key')} (ENOENT)`,
    });
    const bad = join(dir, 'bad.key');
    await writeFile(bad, 'not a key', { mode: 0o600 });
    expect((await loadRootKey({ file: bad })).problem).toBe(
      `the root key file ${bad} does not hold 32 bytes in base64 or hex`,
    );
    expect((await loadRootKey({ value: 'nope' })).problem).toBe(
      'SLIPWAY_ROOT_KEY does not hold 32 bytes in base64 or hex',
    );
    expect((await loadRootKey({ value: generateRootKey() })).source).toBe('environment');
  });
});
