/**
 * Installing a release on a real host of the local provider (a bubblewrap sandbox with its own /etc
 * and dpkg database, its agent inside as root): the agent reads its environment's APT channel with
 * its host credential, checks the SHA-256, and apt-get/dpkg run the package's maintainer scripts
 * unmodified with their real arguments. Upgrade, downgrade and removal are the same call; a failing
 * postinst leaves the previous version installed and running. The env file holds a vault secret
 * resolved when the document is served; the secret is nowhere else (database, host tree, logs).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AgentReport } from '../src/agent/index.ts';
import { eventually } from '../src/agent/testing.ts';
import {
  getHost,
  type HostReleaseStatus,
  hostReleaseStatus,
  issueJoinToken,
  type StoredProcess,
  type StoredRelease,
  setHostRelease,
} from '../src/environments/index.ts';
import { seedHost } from '../src/environments/testing.ts';
import { LocalProvider } from '../src/providers/index.ts';
import { currentSecretSetVersion } from '../src/secrets/index.ts';
import { canaryValue, withRootKey } from '../src/secrets/testing.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';
import { POSTGRES_BIN } from '../src/store/index.ts';
import { freePort } from '../src/store/testing.ts';

const run = promisify(execFile);
const ENVIRONMENT = 'rtinstall';
const HOST = 'app-1';
const PACKAGE = 'rt-app';
const APP_DIR = `/opt/${PACKAGE}`;
const canary = canaryValue('rt');

let dir: string;
let t: TestServer;
let provider: LocalProvider;
let hostId: string;
let hostFs: string;
let hostDirectory: string;
let signedBy: string;
let setVersion: number;
let port: number;
const sha256: Record<string, string> = {};

/** A package whose maintainer scripts append "v<version> $0 $*" to /srv/rt-calls.log. */
async function buildPackage(version: string, options: { failingPostinst?: string } = {}): Promise<string> {
  const root = join(dir, `pkg-${version}`);
  const log = `echo "v${version} $0 $*" >> /srv/rt-calls.log`;
  const files: Record<string, [string, number]> = {
    'DEBIAN/control': [
      `Package: ${PACKAGE}\nVersion: ${version}\nArchitecture: all\nSection: web\nPriority: optional\nMaintainer: Slipway tests <tests@example.org>\nDescription: Slipway release-install test package\n`,
      0o644,
    ],
    'DEBIAN/preinst': [
      `#!/bin/sh\nset -e\n${log}\ncase "$1" in install|upgrade)\n  getent group ${PACKAGE} >/dev/null || groupadd --system ${PACKAGE}\n  getent passwd ${PACKAGE} >/dev/null || useradd --system --gid ${PACKAGE} --home-dir ${APP_DIR} --no-create-home --shell /usr/sbin/nologin ${PACKAGE}\nesac\nexit 0\n`,
      0o755,
    ],
    'DEBIAN/postinst': [
      `#!/bin/sh\nset -e\n${log}\nif [ "$1" = configure ]; then\n  mkdir -p ${APP_DIR}/var && chown ${PACKAGE}:${PACKAGE} ${APP_DIR}/var && chmod 0750 ${APP_DIR}/var\nfi\n${
        options.failingPostinst ? `echo "${options.failingPostinst}" >&2\nexit 1\n` : 'exit 0\n'
      }`,
      0o755,
    ],
    'DEBIAN/prerm': [`#!/bin/sh\nset -e\n${log}\nexit 0\n`, 0o755],
    'DEBIAN/postrm': [`#!/bin/sh\nset -e\n${log}\nexit 0\n`, 0o755],
    [`${APP_DIR.slice(1)}/VERSION`]: [`${version}\n`, 0o644],
    [`${APP_DIR.slice(1)}/serve.js`]: [
      `const http = require('node:http');
const fs = require('node:fs');
const version = fs.readFileSync('${APP_DIR}/VERSION', 'utf8').trim();
const note = (what) => fs.appendFileSync('/srv/rt-calls.log', 'serve ' + version + ' ' + what + '\\n');
note('start');
const server = http.createServer((req, res) =>
  res.end(req.url === '/healthz' ? 'ok' : JSON.stringify({ version, uid: process.getuid() })));
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => { note('stop'); server.close(() => process.exit(0)); server.closeAllConnections(); });
`,
      0o644,
    ],
    [`${APP_DIR.slice(1)}/bin/step`]: [
      `#!/bin/sh\nset -e\nenv_ok=no\ngrep -q '^APP_SECRET=' ${APP_DIR}/.env && env_ok=yes\necho "step $1 $(id -un) $(umask) $(pwd) env=$env_ok" >> /srv/rt-calls.log\necho "made by step $1" > ${APP_DIR}/var/step-$1.out\n`,
      0o755,
    ],
  };
  for (const [path, [content, mode]] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true, mode: 0o755 });
    await writeFile(join(root, path), content, { mode });
    await chmod(join(root, path), mode);
  }
  const deb = join(dir, `${PACKAGE}_${version}_all.deb`);
  await run('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, deb]);
  return deb;
}

async function publish(deb: string, version: string): Promise<void> {
  const upload = await fetch(`${t.url}/api/artifacts/${PACKAGE}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.adminToken}` },
    body: await readFile(deb),
  });
  expect(upload.status, await upload.clone().text()).toBe(201);
  sha256[version] = ((await upload.json()) as { artifact: { sha256: string } }).artifact.sha256;
  const promoted = await t.inject('POST', `/api/artifacts/${PACKAGE}/${version}/promote`, {
    token: t.adminToken,
    body: { channel: ENVIRONMENT },
  });
  expect(promoted.statusCode, promoted.body).toBe(200);
}

function release(version: string): StoredRelease {
  return {
    id: randomUUID(),
    app: PACKAGE,
    version,
    artifact: {
      name: PACKAGE,
      version,
      sha256: sha256[version]!,
      channel: { url: `${t.url}/apt`, distribution: ENVIRONMENT, component: 'main', signedBy },
    },
    configVersion: null,
    secrets: { reference: ENVIRONMENT, version: setVersion },
    install: { directory: APP_DIR, user: PACKAGE },
    envFile: {
      path: `${APP_DIR}/.env`,
      variables: { APP_ENV: ENVIRONMENT, APP_VERSION: version },
      secrets: { APP_SECRET: { kind: 'vault', name: 'APP_SECRET' } },
    },
    steps: [
      { name: 'first', command: [`${APP_DIR}/bin/step`, 'first'], timeoutMs: 30_000 },
      { name: 'second', command: [`${APP_DIR}/bin/step`, 'second'], timeoutMs: 30_000 },
    ],
  };
}

function appProcess(): StoredProcess {
  return {
    name: 'app',
    command: ['node', `${APP_DIR}/serve.js`],
    cwd: APP_DIR,
    user: PACKAGE,
    env: { PATH: '/usr/bin:/bin', PORT: String(port) },
    secrets: {},
    healthCheck: { path: '/healthz', port, intervalMs: 200, timeoutMs: 500, rise: 1, fall: 3 },
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 5000,
    restart: { policy: 'always', initialDelayMs: 200, maxDelayMs: 2000, resetAfterMs: 10_000 },
    logs: { maxBytes: 1024 * 1024, keep: 1 },
  };
}

const callsFile = () => join(hostFs, 'srv', 'rt-calls.log');

/** The lines the scripts, the steps and the process wrote since the last call. */
let seen = 0;
async function newCalls(): Promise<string[]> {
  const lines = (await readFile(callsFile(), 'utf8')).split('\n').filter(Boolean);
  const fresh = lines.slice(seen);
  seen = lines.length;
  return fresh;
}

async function waitFor(
  state: HostReleaseStatus['state'],
  releaseId: string | null,
  timeoutMs = 90_000,
): Promise<HostReleaseStatus> {
  let last: HostReleaseStatus | undefined;
  try {
    return await eventually(
      async () => {
        last = await hostReleaseStatus(t.server.store.db, hostId);
        if (last?.releaseId === releaseId && last.state === 'failed' && state !== 'failed')
          throw new Error(`failed: ${last.message}\n${last.log}`);
        return last?.releaseId === releaseId && last.state === state ? last : undefined;
      },
      timeoutMs,
      `release ${releaseId} ${state}`,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last status ${JSON.stringify(last)}`);
  }
}

async function served(): Promise<{ version: string; uid: number }> {
  return (await fetch(`http://127.0.0.1:${port}/`)).json() as Promise<{ version: string; uid: number }>;
}

async function report(): Promise<AgentReport> {
  return (await getHost(t.server.store.db, hostId))!.report as AgentReport;
}

const prerm = `/var/lib/dpkg/info/${PACKAGE}.prerm`;
const postrm = `/var/lib/dpkg/info/${PACKAGE}.postrm`;
const postinst = `/var/lib/dpkg/info/${PACKAGE}.postinst`;
const newPreinst = '/var/lib/dpkg/tmp.ci/preinst';
const steps = [
  `step first ${PACKAGE} 0077 ${APP_DIR} env=yes`,
  `step second ${PACKAGE} 0077 ${APP_DIR} env=yes`,
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-release-install-'));
  await chmod(dir, 0o711);
  t = await startTestServer(withRootKey({ dataDir: join(dir, 'data') }));
  const db = t.server.store.db;
  hostId = await seedHost(db, ENVIRONMENT, HOST);
  signedBy = (await t.inject('GET', '/apt/slipway.asc', { token: t.adminToken })).body;
  for (const version of ['1.0', '2.0']) await publish(await buildPackage(version), version);
  await publish(
    await buildPackage('3.0', { failingPostinst: 'rt-app postinst: cannot reach the queue' }),
    '3.0',
  );
  const secret = await t.inject('POST', `/api/secrets/environments/${ENVIRONMENT}/APP_SECRET`, {
    token: t.adminToken,
    body: { value: canary },
  });
  expect(secret.statusCode, secret.body).toBe(200);
  setVersion = await currentSecretSetVersion(db, ENVIRONMENT);
  port = await freePort();

  provider = new LocalProvider({
    root: join(dir, 'local'),
    controlPlaneUrl: t.url,
    agentStopTimeoutMs: 10_000,
  });
  await provider.ensureHost(
    { db, environment: ENVIRONMENT, log: () => undefined },
    {
      id: hostId,
      name: HOST,
      services: ['web'],
      zone: null,
      size: { name: 'test', vcpus: 1, memoryMiB: 256 },
      issueJoinToken: () => issueJoinToken(db, hostId, new Date()),
    },
  );
  hostDirectory = join(provider.environmentDirectory(ENVIRONMENT), 'hosts', HOST);
  hostFs = join(hostDirectory, 'fs');
  // Maintainer scripts (root), steps and the process (the app user) all append here.
  await writeFile(callsFile(), '', { mode: 0o666 });
  await chmod(callsFile(), 0o666);
  await eventually(async () => (await getHost(db, hostId))?.report, 30_000, 'the agent to report');
}, 240_000);

afterAll(async () => {
  await provider
    ?.deleteHost({ db: t.server.store.db, environment: ENVIRONMENT, log: () => undefined }, HOST)
    .catch(() => undefined);
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('installing a release on a local-provider host', () => {
  const v1 = () => release('1.0');

  test('install, upgrade, downgrade and remove run the maintainer scripts with their real arguments', async () => {
    // install 1.0
    const first = v1();
    await setHostRelease(t.server.store.db, hostId, { release: first, processes: [appProcess()] });
    await waitFor('healthy', first.id);
    expect(await newCalls()).toStrictEqual([
      `v1.0 ${newPreinst} install`,
      `v1.0 ${postinst} configure `,
      ...steps,
      'serve 1.0 start',
    ]);
    expect((await served()).version).toBe('1.0');

    // upgrade to 2.0: the process stops first, starts after the steps
    const second = release('2.0');
    await setHostRelease(t.server.store.db, hostId, { release: second, processes: [appProcess()] });
    const upgraded = await waitFor('healthy', second.id);
    expect(await newCalls()).toStrictEqual([
      'serve 1.0 stop',
      `v1.0 ${prerm} upgrade 2.0`,
      `v2.0 ${newPreinst} upgrade 1.0 2.0`,
      `v1.0 ${postrm} upgrade 2.0`,
      `v2.0 ${postinst} configure 1.0`,
      ...steps,
      'serve 2.0 start',
    ]);
    expect((await served()).version).toBe('2.0');
    expect(upgraded.installed).toMatchObject({ id: second.id, package: PACKAGE, packageVersion: '2.0' });

    // downgrade to 1.0 (a rollback): the same call
    const back = v1();
    await setHostRelease(t.server.store.db, hostId, { release: back, processes: [appProcess()] });
    await waitFor('healthy', back.id);
    expect(await newCalls()).toStrictEqual([
      'serve 2.0 stop',
      `v2.0 ${prerm} upgrade 1.0`,
      `v1.0 ${newPreinst} upgrade 2.0 1.0`,
      `v2.0 ${postrm} upgrade 1.0`,
      `v1.0 ${postinst} configure 2.0`,
      ...steps,
      'serve 1.0 start',
    ]);
    expect((await served()).version).toBe('1.0');

    // no release: the package is removed (its conffiles and the app's data stay)
    await setHostRelease(t.server.store.db, hostId, { release: null, processes: [] });
    await waitFor('healthy', null);
    expect(await newCalls()).toStrictEqual([
      'serve 1.0 stop',
      `v1.0 ${prerm} remove`,
      `v1.0 ${postrm} remove`,
    ]);
    expect((await report()).release).toMatchObject({ state: 'none', id: null, installed: null });
    await expect(stat(join(hostFs, APP_DIR, 'VERSION'))).rejects.toThrow('ENOENT');
  }, 180_000);

  test('a failing postinst is reported with its message; the previous version stays installed and running', async () => {
    const good = v1();
    await setHostRelease(t.server.store.db, hostId, { release: good, processes: [appProcess()] });
    await waitFor('healthy', good.id);
    await newCalls();

    const bad = release('3.0');
    await setHostRelease(t.server.store.db, hostId, { release: bad, processes: [appProcess()] });
    const failed = await waitFor('failed', bad.id);
    expect(failed.message).toBe(
      'Cannot install rt-app 3.0: its postinst failed with exit status 1: rt-app postinst: cannot reach the queue',
    );
    expect(failed.log).toContain('rt-app postinst: cannot reach the queue');
    expect(failed.installed).toMatchObject({ id: good.id, version: '1.0', packageVersion: '1.0' });
    const calls = await eventually(async () => {
      const lines = (await readFile(callsFile(), 'utf8')).split('\n').filter(Boolean).slice(seen);
      return lines.at(-1) === 'serve 1.0 start' ? lines : undefined;
    });
    expect(calls.slice(0, 5)).toStrictEqual([
      'serve 1.0 stop',
      `v1.0 ${prerm} upgrade 3.0`,
      `v3.0 ${newPreinst} upgrade 1.0 3.0`,
      `v1.0 ${postrm} upgrade 3.0`,
      `v3.0 ${postinst} configure 1.0`,
    ]);
    expect(calls.slice(-3)).toStrictEqual([...steps, 'serve 1.0 start']);
    await newCalls();
    // the files and the running process are 1.0's; the agent says why the revision did not apply
    expect((await readFile(join(hostFs, APP_DIR, 'VERSION'), 'utf8')).trim()).toBe('1.0');
    const process = await eventually(async () => {
      const p = (await report()).processes.find((x) => x.name === 'app');
      return p?.state === 'running' && p.health.status === 'healthy' ? p : undefined;
    });
    expect(process.state).toBe('running');
    expect((await served()).version).toBe('1.0');
    expect((await report()).error).toBe(failed.message);
    expect((await report()).release).toMatchObject({
      state: 'failed',
      id: bad.id,
      version: '3.0',
      phase: 'install',
    });

    // env show says the same, for people and for the console.
    const shown = await t.inject('GET', `/api/environments/${ENVIRONMENT}`, { token: t.adminToken });
    expect(shown.statusCode, shown.body).toBe(200);
    expect(shown.json().hosts[0].release).toMatchObject({
      desired: { id: bad.id, version: '3.0', package: PACKAGE },
      state: 'failed',
      id: bad.id,
      message: failed.message,
      phase: 'install',
      installed: { id: good.id, version: '1.0', packageVersion: '1.0' },
    });
    expect(shown.json().hosts[0].problems).toContain(
      `cannot apply revision ${(await getHost(t.server.store.db, hostId))!.revision}: ${failed.message}`,
    );

    // Going back to the release it runs changes nothing on the host.
    await setHostRelease(t.server.store.db, hostId, { release: good, processes: [appProcess()] });
    await waitFor('healthy', good.id);
    expect(await newCalls()).toStrictEqual([]);
  }, 180_000);

  test('the env file is 0600 for the app user and holds the secret; the steps ran in order as that user', async () => {
    const envFile = join(hostFs, APP_DIR, '.env');
    const text = await readFile(envFile, 'utf8');
    expect(text).toContain(`APP_SECRET=${canary}\n`);
    expect(text).toContain('APP_VERSION=1.0\n');
    const info = await stat(envFile);
    expect(info.mode & 0o777).toBe(0o600);
    const app = await served();
    expect(info.uid).toBe(app.uid);
    expect(app.uid).not.toBe(0);
    // Steps: in order, as the app user, umask 077 (what they write is private), after the env file.
    for (const name of ['first', 'second']) {
      const out = await stat(join(hostFs, APP_DIR, 'var', `step-${name}.out`));
      expect({ name, mode: out.mode & 0o777, uid: out.uid }).toStrictEqual({
        name,
        mode: 0o600,
        uid: app.uid,
      });
    }
    // The vault secret was resolved for this host at the release's pinned set version, audited.
    const audit = await t.inject('GET', '/api/audit?action=secrets.resolve', { token: t.adminToken });
    expect(audit.json().map((e: { actor: string; target: string }) => [e.actor, e.target])).toContainEqual([
      `host:${ENVIRONMENT}/${HOST}`,
      `secret-set:${ENVIRONMENT}@${setVersion}`,
    ]);
  });

  test('the secret and the host credential are nowhere else: database, host tree, agent logs, reports', async () => {
    const credential = JSON.parse(
      await readFile(join(hostFs, 'var', 'lib', 'slipway-agent', 'credential.json'), 'utf8'),
    ).credential as string;
    const { stdout: dump } = await run(
      `${POSTGRES_BIN}/pg_dump`,
      ['--no-owner', '--dbname', t.postgres.url],
      {
        maxBuffer: 256 * 1024 * 1024,
      },
    );
    expect(dump).toContain('environment_hosts');
    expect(dump.includes(canary)).toBe(false);
    const host = (await getHost(t.server.store.db, hostId))!;
    expect(JSON.stringify(host.document)).not.toContain(canary);
    expect(JSON.stringify(host.report)).not.toContain(canary);
    expect(JSON.stringify(host.report)).not.toContain(credential);

    const envFile = join(hostFs, APP_DIR, '.env');
    const expectedCredentialFiles = new Set([
      join(hostFs, 'var', 'lib', 'slipway-agent', 'credential.json'),
      join(hostFs, 'var', 'lib', 'slipway-agent', 'apt-auth.conf'),
    ]);
    const withSecret: string[] = [];
    const withCredential: string[] = [];
    let scanned = 0;
    const walk = async (path: string): Promise<void> => {
      for (const entry of await readdir(path, { withFileTypes: true })) {
        const full = join(path, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.isFile()) {
          const content = await readFile(full);
          scanned += 1;
          if (full !== envFile && content.includes(canary)) withSecret.push(full);
          if (!expectedCredentialFiles.has(full) && content.includes(credential)) withCredential.push(full);
        }
      }
    };
    await walk(join(dir, 'local'));
    expect(scanned).toBeGreaterThan(20);
    expect(withSecret).toStrictEqual([]);
    expect(withCredential).toStrictEqual([]);
    const agentLog = await readFile(join(hostDirectory, 'agent.log'), 'utf8');
    expect(agentLog).toContain('apt-get install rt-app=3.0');
    expect(agentLog).toContain(
      'env file /opt/rt-app/.env written for rt-app (mode 0600): 3 variables, 1 secret',
    );
    const auth = await stat(join(hostFs, 'var', 'lib', 'slipway-agent', 'apt-auth.conf'));
    expect(auth.mode & 0o777).toBe(0o600);
  });
});
