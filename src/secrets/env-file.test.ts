import { lstat, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeEnvFileAtomically } from './env-file.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-env-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeEnvFileAtomically()', () => {
  test('writes mode 0600, owned by the app user, replacing the old file by rename', async () => {
    const path = join(dir, '.env');
    await writeFile(path, 'OLD=1\n', { mode: 0o644 });
    const before = await stat(path);
    await writeEnvFileAtomically(path, 'DB_PASSWORD=new\n', { uid: 4321, gid: 4322 });
    const after = await stat(path);
    expect(await readFile(path, 'utf8')).toBe('DB_PASSWORD=new\n');
    expect(after.mode & 0o777).toBe(0o600);
    expect([after.uid, after.gid]).toStrictEqual([4321, 4322]);
    expect(after.ino).not.toBe(before.ino); // a new file took the name: readers saw old or new, never a part
    expect(await readdir(dir)).toStrictEqual(['.env']);
  });

  test('keeps the writer as owner when no uid/gid is given', async () => {
    const path = join(dir, 'plain.env');
    await writeEnvFileAtomically(path, 'A=1\n');
    const info = await stat(path);
    expect([info.uid, info.mode & 0o777]).toStrictEqual([process.getuid!(), 0o600]);
  });

  test('replaces a symlink at the path instead of writing through it', async () => {
    const target = join(dir, 'elsewhere');
    await writeFile(target, 'UNTOUCHED=1\n');
    const link = join(dir, 'linked.env');
    await symlink(target, link);
    await writeEnvFileAtomically(link, 'NEW=1\n');
    expect((await lstat(link)).isSymbolicLink()).toBe(false);
    expect(await readFile(target, 'utf8')).toBe('UNTOUCHED=1\n');
    expect(await readFile(link, 'utf8')).toBe('NEW=1\n');
  });

  test('a failure leaves the old file and no temporary file, and names no content', async () => {
    const missing = join(dir, 'no-such-dir', '.env');
    await expect(writeEnvFileAtomically(missing, 'SECRET=leak-me\n')).rejects.toThrowError(
      `Cannot write the env file ${missing} (ENOENT); the old file is unchanged`,
    );
    const path = join(dir, 'kept.env');
    await writeFile(path, 'KEPT=1\n');
    // A directory where the temporary file would go makes the write fail after nothing was replaced.
    await expect(writeEnvFileAtomically(join(dir, 'kept.env', 'x'), 'SECRET=leak-me\n')).rejects.toThrowError(
      /ENOTDIR/,
    );
    expect(await readFile(path, 'utf8')).toBe('KEPT=1\n');
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toStrictEqual([]);
  });
});
