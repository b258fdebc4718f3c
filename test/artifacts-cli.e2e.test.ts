/**
 * The artifact repository through the built CLI: upload, list, show, download, promote, channels and
 * the apt setup lines; and the API tokens apt sends as HTTP Basic.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTestDeb } from '../src/artifacts/testing.ts';
import { TEST_USER_PASSWORD } from '../src/server/testing.ts';
import { type PipelineTestServer, startPipelineServer } from './pipelines-support.ts';
import { runCli } from './support/cli.ts';

let t: PipelineTestServer;
let dir: string;
let deb: string;
let env: Record<string, string>;

async function cli(...args: string[]) {
  return runCli(args, { env });
}

beforeAll(async () => {
  t = await startPipelineServer();
  dir = await mkdtemp(join(tmpdir(), 'slipway-artifacts-cli-'));
  deb = await buildTestDeb({ name: 'cli-app', version: '2.1.0~b4+gabcdefabcdef', outDir: dir });
  env = { SLIPWAY_URL: t.url, SLIPWAY_TOKEN: t.adminToken };
});
afterAll(async () => {
  await t?.stopAll();
  await rm(dir, { recursive: true, force: true });
});

describe('slipway artifacts', () => {
  test('upload stores a .deb (checked by its SHA-256); again is a no-op', async () => {
    const first = await cli('artifacts', 'upload', 'cli-app', deb);
    expect(first).toMatchObject({
      code: 0,
      stdout: `Stored ${deb.split('/').at(-1)} as cli-app 2.1.0~b4+gabcdefabcdef\n`,
    });
    const again = await cli('artifacts', 'upload', 'cli-app', deb);
    expect(again.stdout).toMatch(/^Already stored /);
  });

  test('list, show and download', async () => {
    const list = await cli('artifacts', 'list', '--app', 'cli-app');
    expect(list.stdout).toMatch(
      /^APP\s+VERSION\s+SIZE\s+COMMIT\s+RUN\s+CHANNELS\s+CREATED\ncli-app\s+2\.1\.0~b4\+gabcdefabcdef\s+\d+/,
    );
    const shown = await cli('--json', 'artifacts', 'show', 'cli-app', '2.1.0~b4+gabcdefabcdef');
    const details = JSON.parse(shown.stdout);
    expect(details.control).toMatchObject({
      Package: 'cli-app',
      Version: '2.1.0~b4+gabcdefabcdef',
      Architecture: 'all',
    });
    const file = join(dir, 'downloaded.deb');
    const downloaded = await cli('artifacts', 'download', 'cli-app', '2.1.0~b4+gabcdefabcdef', '-o', file);
    expect(downloaded.code).toBe(0);
    const digest = (data: Buffer) => createHash('sha256').update(data).digest('hex');
    expect(digest(await readFile(file))).toBe(digest(await readFile(deb)));
    const missing = await cli('artifacts', 'show', 'cli-app', '9.9.9');
    expect(missing.code).toBe(5);
    expect(missing.stderr).toBe(
      'Error: Cannot find version "9.9.9" of app "cli-app" in the artifact repository\nRun `slipway artifacts list --app cli-app` to see its versions\n',
    );
  });

  test('promote needs deployer on the channel; then channels and apt-source show how to use it', async () => {
    const developer = await t.userWithRoles('cli-dev', ['developer@platform']);
    const refused = await runCli(
      ['artifacts', 'promote', 'cli-app', '2.1.0~b4+gabcdefabcdef', '--channel', 'staging'],
      {
        env: { SLIPWAY_URL: t.url, SLIPWAY_TOKEN: developer },
      },
    );
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain(
      'Not allowed: user "cli-dev" needs role "deployer" on environment:staging',
    );
    const promoted = await cli(
      'artifacts',
      'promote',
      'cli-app',
      '2.1.0~b4+gabcdefabcdef',
      '--channel',
      'staging',
    );
    expect(promoted.stdout).toBe(
      'Promoted cli-app 2.1.0~b4+gabcdefabcdef to channel staging (index revision 1)\n',
    );
    const again = await cli(
      'artifacts',
      'promote',
      'cli-app',
      '2.1.0~b4+gabcdefabcdef',
      '--channel',
      'staging',
    );
    expect(again.stdout).toBe('cli-app 2.1.0~b4+gabcdefabcdef is already in channel staging\n');
    const channels = await cli('artifacts', 'channels');
    expect(channels.stdout).toContain(`staging  1          1         `);
    const source = await cli('artifacts', 'apt-source', 'staging');
    expect(source.stdout).toContain(
      `deb [signed-by=/etc/apt/keyrings/slipway.asc] ${t.url}/apt staging main`,
    );
    expect(source.stdout).toContain(`machine http://${new URL(t.url).host}/apt`);
  });
});

describe('API tokens over HTTP Basic (apt auth.conf)', () => {
  test('a token as the Basic password authenticates on any route; a password or a bad token does not', async () => {
    const basic = (user: string, secret: string) =>
      `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
    const whoami = await t.inject('GET', '/api/whoami', {
      headers: { authorization: basic('apt', t.adminToken) },
    });
    expect(whoami.statusCode).toBe(200);
    expect(whoami.json()).toMatchObject({ username: 'admin', via: 'token' });
    await t.userWithRoles('basic-user', []);
    const withPassword = await t.inject('GET', '/api/whoami', {
      headers: { authorization: basic('basic-user', TEST_USER_PASSWORD) },
    });
    expect(withPassword.statusCode).toBe(401);
    expect(withPassword.json().error.message).toBe('The API token is not valid');
    const noPassword = await t.inject('GET', '/api/whoami', { headers: { authorization: basic('apt', '') } });
    expect(noPassword.statusCode).toBe(401);
    expect(noPassword.json().error.message).toBe('The Authorization header is not a bearer token');
    const garbage = await t.inject('GET', '/api/whoami', { headers: { authorization: 'Basic !!!' } });
    expect(garbage.statusCode).toBe(401);
  });
});
