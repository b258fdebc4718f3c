/**
 * What a Laravel host does with a secret set, with the real thing: the reference app on Debian's
 * Laravel 8. The rendered `.env` is written atomically (0600), then LARAVEL_ENV_STEPS run in order
 * (config:cache, queue:restart) under umask 077, so the config cache that now holds the secrets is
 * private too. This is the part of injection that does not need the agent; the agent calls the same.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LARAVEL_ENV_STEPS, renderLaravelEnv, writeEnvFileAtomically } from '../src/secrets/index.ts';

const run = promisify(execFile);
const APP = join(import.meta.dirname, '..', 'examples', 'laravel-app');

let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-laravel-env-'));
  for (const sub of ['release', 'storage/framework/cache/data', 'storage/framework/views', 'storage/logs']) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  // The reference app reads these to keep per-host files out of the code directory.
  env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    APP_ENV_DIR: join(dir, 'release'),
    APP_CONFIG_CACHE: join(dir, 'config.php'),
    LARAVEL_STORAGE_PATH: join(dir, 'storage'),
  };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the host steps after the `.env` was written, as the agent's release hooks will. */
async function runHostSteps(): Promise<string[]> {
  const ran: string[] = [];
  for (const step of LARAVEL_ENV_STEPS) {
    if (!('command' in step)) continue;
    await run('sh', ['-c', 'umask 077 && exec "$@"', 'sh', ...step.command], { cwd: APP, env });
    ran.push(step.name);
  }
  return ran;
}

async function cachedConfig(): Promise<{ db: string; key: string; mail: string }> {
  const script = `$c = require ${JSON.stringify(join(dir, 'config.php'))}; echo json_encode(["db" => $c["database"]["connections"]["pgsql"]["password"], "key" => $c["app"]["key"], "mail" => $c["mail"]["mailers"]["smtp"]["password"]]);`;
  return JSON.parse((await run('php', ['-r', script])).stdout);
}

describe('a secret set on a Laravel host', () => {
  const appKey = `base64:${randomBytes(32).toString('base64')}`;
  const tricky = `p@ss "w0rd" it's $HOME #not-a-comment \\ ${'$'}{APP_KEY} é`;

  test('render → atomic 0600 .env → config:cache → queue:restart: Laravel sees every value exactly', async () => {
    const text = renderLaravelEnv({
      secrets: { APP_KEY: appKey, DB_PASSWORD: tricky, MAIL_PASSWORD: 'mail-1' },
      config: { APP_ENV: 'staging', CACHE_DRIVER: 'file', QUEUE_CONNECTION: 'sync', LOG_CHANNEL: 'stderr' },
    });
    const envFile = join(dir, 'release', '.env');
    await writeEnvFileAtomically(envFile, text, { uid: 0, gid: 0 });
    expect((await stat(envFile)).mode & 0o777).toBe(0o600);
    expect(await runHostSteps()).toStrictEqual(['config-cache', 'queue-restart']);
    expect(await cachedConfig()).toStrictEqual({ db: tricky, key: appKey, mail: 'mail-1' });
    // The config cache holds the secrets now: it must be as private as the .env.
    expect((await stat(join(dir, 'config.php'))).mode & 0o777).toBe(0o600);
    // queue:restart left its signal in the cache, so workers finish their job and restart with the new config.
    expect((await readdir(join(dir, 'storage', 'framework', 'cache', 'data'))).length).toBeGreaterThan(0);
  });

  test('a new secret set (same release) replaces the values after the same steps', async () => {
    const text = renderLaravelEnv({
      secrets: { APP_KEY: appKey, DB_PASSWORD: 'rotated-password', MAIL_PASSWORD: 'mail-2' },
      config: { APP_ENV: 'staging', CACHE_DRIVER: 'file', QUEUE_CONNECTION: 'sync', LOG_CHANNEL: 'stderr' },
    });
    await writeEnvFileAtomically(join(dir, 'release', '.env'), text);
    await runHostSteps();
    expect(await cachedConfig()).toStrictEqual({ db: 'rotated-password', key: appKey, mail: 'mail-2' });
  });
});
