import { lstat, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { dotenvRecord, parseDotenv, renderLaravelEnv } from '../secrets/index.ts';
import { quoteEnvValue, renderEnvFile, writeEnvFileAtomically } from './env-file.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-agent-env-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('renderEnvFile()', () => {
  const variables = {
    APP_KEY: 'base64:abc/def+ghi=',
    PLAIN: 'value',
    EMPTY: '',
    SPACES: 'two words',
    QUOTES: `it's "quoted" $HOME`,
    MULTI: 'line one\nline two\r\n',
    'dotted.name': 'x',
  };

  test("writes exactly what the secrets module's renderLaravelEnv writes, and reads back to the same values", () => {
    const text = renderEnvFile(variables);
    expect(text).toBe(renderLaravelEnv({ secrets: variables }));
    expect({ ...dotenvRecord(parseDotenv(text).entries) }).toStrictEqual(variables);
  });

  test('quotes only what needs it', () => {
    expect(quoteEnvValue('abc-1.2_3')).toBe('abc-1.2_3');
    expect(quoteEnvValue('a b')).toBe("'a b'");
    expect(quoteEnvValue('a\nb')).toBe('"a\\nb"');
  });

  test('refuses a name that is not a variable name, without its value', () => {
    expect(() => renderEnvFile({ 'BAD NAME': 'secret-value' })).toThrow(
      'cannot write "BAD NAME" to the env file: it is not a variable name',
    );
  });
});

describe('writeEnvFileAtomically()', () => {
  test('replaces the file with mode 0600 for its owner, leaving no temporary file', async () => {
    const path = join(dir, '.env');
    await writeFile(path, 'OLD=1\n', { mode: 0o644 });
    await writeEnvFileAtomically(path, 'NEW=2\n', { uid: 65534, gid: 65534 });
    expect(await readFile(path, 'utf8')).toBe('NEW=2\n');
    const info = await stat(path);
    expect({ mode: info.mode & 0o777, uid: info.uid, gid: info.gid }).toStrictEqual({
      mode: 0o600,
      uid: 65534,
      gid: 65534,
    });
    expect(await readdir(dir)).toStrictEqual(['.env']);
  });

  test('replaces a symlink instead of writing through it', async () => {
    const target = join(dir, 'elsewhere');
    await writeFile(target, 'untouched\n');
    await symlink(target, join(dir, '.env'));
    await writeEnvFileAtomically(join(dir, '.env'), 'A=1\n');
    expect(await readFile(target, 'utf8')).toBe('untouched\n');
    expect((await lstat(join(dir, '.env'))).isSymbolicLink()).toBe(false);
  });

  test('names the path and the error code, never the text', async () => {
    const failure = writeEnvFileAtomically(join(dir, 'missing', '.env'), 'SECRET=hunter2-value\n');
    await expect(failure).rejects.toThrow(
      `cannot write the env file ${join(dir, 'missing', '.env')}: ENOENT`,
    );
    await expect(failure).rejects.not.toThrow('hunter2');
  });
});
