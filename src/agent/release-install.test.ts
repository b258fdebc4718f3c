import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { ReleaseSpec } from './desired-state.ts';
import {
  belongsToRelease,
  installedReleaseRecord,
  readInstalledRelease,
  secretValuesOf,
  writeInstalledRelease,
} from './release-install.ts';
import { desiredState, processSpec } from './testing.ts';

const SECRET = 'very-secret-value-42';

function release(): ReleaseSpec {
  return {
    id: 'r1',
    app: 'shop',
    version: '1.0',
    artifact: {
      name: 'shop',
      version: '1.0',
      sha256: 'a'.repeat(64),
      channel: { url: 'http://127.0.0.1/apt', distribution: 'test', component: 'main', signedBy: null },
    },
    configVersion: null,
    secrets: { reference: 'test', version: 3 },
    install: { directory: '/opt/shop', user: 'shop' },
    envFile: {
      path: '/opt/shop/.env',
      variables: { APP_ENV: 'test', DB_PASSWORD: SECRET },
      secretNames: ['DB_PASSWORD'],
      unresolvedSecrets: [],
    },
    steps: [],
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-agent-release-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the installed release the agent remembers', () => {
  test('is written 0600 without the env file values, and read back', async () => {
    const record = installedReleaseRecord(release(), '1.0');
    expect(record.full?.envFile?.variables.DB_PASSWORD).toBe(SECRET);
    await writeInstalledRelease(dir, record);
    const text = await readFile(join(dir, 'release.json'), 'utf8');
    expect(text).not.toContain(SECRET);
    expect((await stat(join(dir, 'release.json'))).mode & 0o777).toBe(0o600);
    const read = await readInstalledRelease(dir);
    expect(read).toMatchObject({
      id: 'r1',
      package: 'shop',
      packageVersion: '1.0',
      envFilePath: '/opt/shop/.env',
    });
    expect(read?.spec.envFile).toBeNull();
    expect(read?.full).toBeUndefined();
    await writeInstalledRelease(dir, null);
    expect(await readInstalledRelease(dir)).toBeNull();
  });
});

describe('belongsToRelease()', () => {
  test('a process in the release directory, from it, or as its user', () => {
    const r = release();
    expect(belongsToRelease(processSpec('web', ['php', 'artisan'], { cwd: '/opt/shop' }), [r])).toBe(true);
    expect(belongsToRelease(processSpec('web', ['/opt/shop/bin/web']), [r])).toBe(true);
    expect(belongsToRelease(processSpec('worker', ['php'], { user: 'shop' }), [r])).toBe(true);
    expect(belongsToRelease(processSpec('web', ['node', 'x.js'], { cwd: '/opt/shopping' }), [r])).toBe(false);
    expect(belongsToRelease(processSpec('web', ['node', 'x.js']), [null])).toBe(false);
  });
});

describe('secretValuesOf()', () => {
  test("collects the env file's and the processes' secret values, longest first", () => {
    const document = {
      ...desiredState(1, [
        processSpec('web', ['x'], { env: { TOKEN: 'tok-123456', PLAIN: 'visible' }, secretEnv: ['TOKEN'] }),
      ]),
      release: release(),
    };
    expect(secretValuesOf(document)).toStrictEqual([SECRET, 'tok-123456']);
  });
});
