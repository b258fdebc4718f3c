/**
 * A channel is a real APT repository: apt-get, with private state in a throwaway host root (private
 * copies of /etc and the dpkg database, run under bubblewrap), reads it with `signed-by` and a token
 * in auth.conf (HTTP Basic), verifies the signature, and installs the package with its maintainer
 * scripts. A Packages file tampered with on the way, or a key that did not sign it, fails the update.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTestDeb } from '../src/artifacts/testing.ts';
import { api, type PipelineTestServer, startPipelineServer } from './pipelines-support.ts';

const execFileAsync = promisify(execFile);
const PACKAGE = 'slipway-apt-test';

let t: PipelineTestServer;
let viewerToken: string;
let proxy: Server;
let proxyUrl: string;
const hosts: string[] = [];

async function upload(file: string): Promise<void> {
  const body = await readFile(file);
  const response = await fetch(`${t.url}/api/artifacts/${PACKAGE}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.adminToken}` },
    body,
  });
  if (response.status !== 201) throw new Error(`upload failed: ${response.status} ${await response.text()}`);
}

/**
 * A throwaway host: its own /etc and dpkg database (copies), apt's directories, the repository key,
 * a sources list naming only the channel, and auth.conf with the token.
 */
async function makeHost(options: {
  base: string;
  channel: string;
  token?: string;
  key?: string;
}): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'slipway-apt-host-'));
  hosts.push(root);
  await chmod(root, 0o755);
  await execFileAsync('cp', ['-a', '/etc', join(root, 'etc')]);
  await mkdir(join(root, 'var', 'lib'), { recursive: true });
  await execFileAsync('cp', ['-a', '/var/lib/dpkg', join(root, 'var', 'lib', 'dpkg')]);
  for (const dir of [
    'opt',
    'usr',
    'tmp',
    'run',
    'root',
    'var/lib/apt/lists/partial',
    'var/cache/apt/archives/partial',
    'var/log/apt',
  ]) {
    await mkdir(join(root, dir), { recursive: true });
  }
  for (const link of ['bin', 'sbin', 'lib', 'lib64']) await symlink(`usr/${link}`, join(root, link));
  await chmod(join(root, 'tmp'), 0o1777); // apt's unprivileged _apt user writes there
  const key =
    options.key ??
    (await (
      await fetch(`${t.url}/apt/slipway.asc`, { headers: { authorization: `Bearer ${t.adminToken}` } })
    ).text());
  await mkdir(join(root, 'etc', 'apt', 'keyrings'), { recursive: true });
  await writeFile(join(root, 'etc', 'apt', 'keyrings', 'slipway.asc'), key);
  await writeFile(
    join(root, 'etc', 'apt', 'slipway.list'),
    `deb [signed-by=/etc/apt/keyrings/slipway.asc] ${options.base}/apt ${options.channel} main\n`,
  );
  await mkdir(join(root, 'etc', 'apt', 'auth.conf.d'), { recursive: true });
  if (options.token) {
    // apt sends credentials over plain HTTP only when the machine line names the scheme.
    const { host, protocol } = new URL(options.base);
    const machine = protocol === 'http:' ? `http://${host}/apt` : `${host}/apt`;
    await writeFile(
      join(root, 'etc', 'apt', 'auth.conf.d', 'slipway.conf'),
      `machine ${machine}\nlogin apt\npassword ${options.token}\n`,
      {
        mode: 0o600,
      },
    );
  }
  return root;
}

/** Runs apt-get (apt-cache for "policy") inside the host (its root bound as /, the machine's /usr read-only). */
async function aptGet(root: string, ...args: string[]) {
  const binary = args[0] === 'policy' ? 'apt-cache' : 'apt-get';
  const options = [
    '-o',
    'Dir::Etc::sourcelist=/etc/apt/slipway.list',
    '-o',
    'Dir::Etc::sourceparts=-',
    '-o',
    'APT::Get::List-Cleanup=0',
    '-o',
    'Acquire::Retries=0',
    '-q',
  ];
  try {
    const { stdout, stderr } = await execFileAsync(
      'bwrap',
      [
        '--bind',
        root,
        '/',
        '--ro-bind',
        '/usr',
        '/usr',
        '--dev',
        '/dev',
        '--proc',
        '/proc',
        '--unshare-pid',
        '--die-with-parent',
        '--setenv',
        'DEBIAN_FRONTEND',
        'noninteractive',
        '--',
        binary,
        ...options,
        ...args,
      ],
      { timeout: 120_000, maxBuffer: 16 << 20 },
    );
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failure.code ?? 1, output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` };
  }
}

/** An HTTP proxy in front of Slipway that changes every Packages index passing through it. */
async function startTamperingProxy(target: string): Promise<Server> {
  const { hostname, port } = new URL(target);
  const server = createServer((incoming, outgoing) => {
    const upstream = request(
      {
        host: hostname,
        port,
        path: incoming.url,
        method: incoming.method,
        headers: { ...incoming.headers, host: `${hostname}:${port}` },
      },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          let body = Buffer.concat(chunks);
          if (answer.statusCode === 200 && /Packages|by-hash/.test(incoming.url ?? '')) {
            const gzipped = body[0] === 0x1f && body[1] === 0x8b;
            const text = (gzipped ? gunzipSync(body) : body).toString('utf8');
            // A mirror that slips in a dependency: the signed Release no longer matches.
            const altered = Buffer.from(
              text.replace(/^Package: (.+)$/m, 'Package: $1\nPre-Depends: evil-package'),
            );
            body = gzipped ? gzipSync(altered) : altered;
          }
          const headers = { ...answer.headers, 'content-length': String(body.length) };
          outgoing.writeHead(answer.statusCode ?? 502, headers);
          outgoing.end(body);
        });
      },
    );
    incoming.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

beforeAll(async () => {
  t = await startPipelineServer();
  const out = await mkdtemp(join(tmpdir(), 'slipway-apt-debs-'));
  hosts.push(out);
  await upload(await buildTestDeb({ name: PACKAGE, version: '1.0.0~b1+gaaaaaaaaaaaa', outDir: out }));
  await upload(await buildTestDeb({ name: PACKAGE, version: '1.0.0~b2+gbbbbbbbbbbbb', outDir: out }));
  await upload(await buildTestDeb({ name: PACKAGE, version: '1.0.0~b3+gcccccccccccc', outDir: out }));
  await api(t, 'POST', `/api/artifacts/${PACKAGE}/1.0.0~b1+gaaaaaaaaaaaa/promote`, { channel: 'staging' });
  await api(t, 'POST', `/api/artifacts/${PACKAGE}/1.0.0~b2+gbbbbbbbbbbbb/promote`, { channel: 'staging' });
  viewerToken = await t.userWithRoles('apt-reader', ['viewer@environment:staging']);
  proxy = await startTamperingProxy(t.url);
  proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
}, 120_000);
afterAll(async () => {
  proxy?.close();
  await t?.stopAll();
  for (const root of hosts) await rm(root, { recursive: true, force: true });
});

describe("apt-get and a channel's repository", () => {
  test('update verifies the signature; install fetches the newest version in the channel and runs its scripts', async () => {
    const root = await makeHost({ base: t.url, channel: 'staging', token: viewerToken });
    const update = await aptGet(root, 'update');
    expect(update.output).not.toMatch(/^(W|E):/m);
    expect(update.code).toBe(0);
    expect(update.output).toMatch(/Get:\d+ http:\/\/127\.0\.0\.1:\d+\/apt staging InRelease/);

    const policy = await aptGet(root, 'policy', PACKAGE);
    expect(policy.output).toContain('Candidate: 1.0.0~b2+gbbbbbbbbbbbb'); // b3 was never promoted
    const install = await aptGet(root, 'install', '-y', PACKAGE);
    expect(install.code, install.output).toBe(0);
    expect(install.output).toContain(`Setting up ${PACKAGE} (1.0.0~b2+gbbbbbbbbbbbb)`);
    expect(await readFile(join(root, 'opt', PACKAGE, 'hello.txt'), 'utf8')).toBe('1.0.0~b2+gbbbbbbbbbbbb\n');
    expect(await readFile(join(root, 'opt', PACKAGE, 'postinst-ran'), 'utf8')).toBe(
      `configured ${PACKAGE} \n`,
    );
    const status = await readFile(join(root, 'var', 'lib', 'dpkg', 'status'), 'utf8');
    expect(status).toMatch(new RegExp(`Package: ${PACKAGE}\\nStatus: install ok installed`));
    // The machine's own dpkg database knows nothing of it.
    expect(await readFile('/var/lib/dpkg/status', 'utf8')).not.toContain(`Package: ${PACKAGE}\n`);
  }, 180_000);

  test('a promotion shows up at the next update, and an older version installs on request', async () => {
    const root = await makeHost({ base: t.url, channel: 'staging', token: viewerToken });
    await api(t, 'POST', `/api/artifacts/${PACKAGE}/1.0.0~b3+gcccccccccccc/promote`, { channel: 'staging' });
    expect((await aptGet(root, 'update')).code).toBe(0);
    expect((await aptGet(root, 'policy', PACKAGE)).output).toContain('Candidate: 1.0.0~b3+gcccccccccccc');
    const older = await aptGet(root, 'install', '-y', `${PACKAGE}=1.0.0~b1+gaaaaaaaaaaaa`);
    expect(older.code, older.output).toBe(0);
    expect(await readFile(join(root, 'opt', PACKAGE, 'hello.txt'), 'utf8')).toBe('1.0.0~b1+gaaaaaaaaaaaa\n');
  }, 180_000);

  test('a Packages file tampered with on the way makes apt-get update fail', async () => {
    const root = await makeHost({ base: proxyUrl, channel: 'staging', token: viewerToken });
    const update = await aptGet(root, 'update');
    expect(update.code).not.toBe(0);
    expect(update.output).toMatch(/Hash Sum mismatch|File has unexpected size/);
    const install = await aptGet(root, 'install', '-y', PACKAGE);
    expect(install.code).not.toBe(0);
    expect(install.output).toContain(`Unable to locate package ${PACKAGE}`);
  }, 120_000);

  test('an index signed by another key is refused', async () => {
    const { publicKey } = await openpgp.generateKey({
      type: 'ecc',
      curve: 'ed25519Legacy',
      userIDs: [{ name: 'Someone else', email: 'else@example.org' }],
      format: 'armored',
    });
    const root = await makeHost({ base: t.url, channel: 'staging', token: viewerToken, key: publicKey });
    const update = await aptGet(root, 'update');
    expect(update.code).not.toBe(0);
    expect(update.output).toMatch(/NO_PUBKEY|not signed|signatures couldn't be verified/);
  }, 120_000);

  test('without a token, or with one that cannot read this channel, apt gets nothing', async () => {
    const anonymous = await makeHost({ base: t.url, channel: 'staging' });
    const refused = await aptGet(anonymous, 'update');
    expect(refused.code).not.toBe(0);
    expect(refused.output).toMatch(/401/);
    const productionViewer = await t.userWithRoles('prod-reader', ['viewer@environment:production']);
    const other = await makeHost({ base: t.url, channel: 'staging', token: productionViewer });
    const forbidden = await aptGet(other, 'update');
    expect(forbidden.code).not.toBe(0);
    expect(forbidden.output).toMatch(/403/);
  }, 120_000);
});

describe('the repository over HTTP', () => {
  test('serves the signed index, by name and by hash, to Basic auth with a token', async () => {
    const basic = `Basic ${Buffer.from(`anyone:${viewerToken}`).toString('base64')}`;
    const get = (path: string, authorization = basic) =>
      fetch(`${t.url}${path}`, { headers: { authorization } });
    const release = await (await get('/apt/dists/staging/Release')).text();
    expect(release).toMatch(
      /^Origin: Slipway\nLabel: Slipway staging\nSuite: staging\nCodename: staging\nDate: .+ UTC\n/,
    );
    expect(release).toContain('Architectures: amd64\nComponents: main\n');
    const packages = Buffer.from(
      await (await get('/apt/dists/staging/main/binary-amd64/Packages')).arrayBuffer(),
    );
    const digest = createHash('sha256').update(packages).digest('hex');
    expect(release).toContain(` ${digest} ${packages.length} main/binary-amd64/Packages\n`);
    const byHash = await get(`/apt/dists/staging/main/binary-amd64/by-hash/SHA256/${digest}`);
    expect(Buffer.from(await byHash.arrayBuffer())).toStrictEqual(packages);
    expect(packages.toString()).toMatch(
      new RegExp(
        `Filename: pool/staging/main/s/${PACKAGE}/${PACKAGE}_1\\.0\\.0~b1\\+gaaaaaaaaaaaa_all\\.deb\\nSize: \\d+\\nSHA256: [0-9a-f]{64}\\n`,
      ),
    );
    const inRelease = await (await get('/apt/dists/staging/InRelease')).text();
    expect(inRelease).toMatch(/^-----BEGIN PGP SIGNED MESSAGE-----/);
    const wrong = await get(
      '/apt/dists/staging/Release',
      `Basic ${Buffer.from('anyone:slw_nope').toString('base64')}`,
    );
    expect(wrong.status).toBe(401);
    // A version that is not in the channel is not in its pool either.
    const notPromoted = await get(
      `/apt/pool/production/main/s/${PACKAGE}/${PACKAGE}_1.0.0~b1+gaaaaaaaaaaaa_all.deb`,
      `Bearer ${t.adminToken}`,
    );
    expect(notPromoted.status).toBe(404);
  });

  test('lists channels with their sources line, and artifacts with the channels they are in', async () => {
    const channels = await api(t, 'GET', '/api/channels');
    expect(channels).toMatchObject([
      {
        name: 'staging',
        artifacts: 3,
        sourcesLine: expect.stringMatching(
          /^deb \[signed-by=\/etc\/apt\/keyrings\/slipway\.asc\] http:\/\/.+\/apt staging main$/,
        ),
      },
    ]);
    const inStaging = await api(t, 'GET', '/api/artifacts?channel=staging');
    expect(inStaging).toHaveLength(3);
    const found = await api(t, 'GET', '/api/artifacts?search=b2%2Bg');
    expect(found.map((a: { version: string }) => a.version)).toStrictEqual(['1.0.0~b2+gbbbbbbbbbbbb']);
  });
});
