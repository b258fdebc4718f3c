/**
 * Shared pieces of the environments tests: environment files for an infrastructure repository, a
 * control plane run as its own process (so it can be killed), and checks that nothing is left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { expect } from 'vitest';
import { issueJoinToken } from '../src/environments/index.ts';
import { seedHost } from '../src/environments/testing.ts';
import type { TestServer } from '../src/server/testing.ts';
import { freePort } from '../src/store/testing.ts';

/** A tiny web service: answers /healthz, says which host it is on and whether its database answers. */
export const WEB_SCRIPT = `
const http = require('node:http');
const net = require('node:net');
function dbReachable() {
  return new Promise((resolve) => {
    if (!process.env.DB_PORT) return resolve('none');
    const s = net.createConnection(Number(process.env.DB_PORT), process.env.DB_HOST);
    s.on('connect', () => { s.destroy(); resolve('reachable'); });
    s.on('error', () => resolve('unreachable'));
  });
}
const server = http.createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({
    host: process.env.SLIPWAY_HOST, environment: process.env.SLIPWAY_ENVIRONMENT, release: process.env.RELEASE_NAME,
    database: process.env.DB_DATABASE, user: process.env.DB_USERNAME, password: process.env.DB_PASSWORD ? 'set' : 'missing',
    url: process.env.DATABASE_URL ? 'set' : 'missing', db: await dbReachable(),
  }));
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

/** A worker that only sleeps. */
export const WORKER_SCRIPT = `setInterval(() => {}, 1000); process.on('SIGTERM', () => process.exit(0));`;

/** Options of an environment file. */
export interface EnvironmentFileOptions {
  readonly web?: number;
  readonly worker?: boolean;
  readonly approval?: 'automatic' | 'admin';
  readonly admins?: readonly string[];
  readonly deployers?: readonly string[];
  readonly release?: string;
  /** Extra text inside the Service props of web (to make it invalid, for instance). */
  readonly webExtra?: string;
  /** Statements appended to the file. */
  readonly extra?: string;
}

/** The text of environments/<name>.ts for the local provider: web behind a load balancer, a database. */
export function environmentFile(name: string, options: EnvironmentFileOptions = {}): string {
  const approval = options.approval
    ? `approval: Approval.${options.approval === 'automatic' ? 'automatic' : 'byAdmin'}(),`
    : '';
  return `import {
  Approval, Database, Duration, Environment, Infrastructure, LoadBalancer, Provider, Scaling, Service,
} from 'slipway/environments';

const infra = new Infrastructure();
const environment = new Environment(infra, '${name}', {
  provider: Provider.local(),
  ${approval}
  config: { RELEASE_NAME: '${options.release ?? 'r1'}' },
  admins: ${JSON.stringify(options.admins ?? [])},
  deployers: ${JSON.stringify(options.deployers ?? [])},
});
const web = new Service(environment, 'web', {
  command: ['node', '-e', ${JSON.stringify(WEB_SCRIPT)}],
  port: 8080,
  scaling: Scaling.fixed(${options.web ?? 1}),
  healthCheck: { path: '/healthz', interval: Duration.millis(500), timeout: Duration.millis(400), rise: 1, fall: 2 },
  stopTimeout: Duration.seconds(5),
  ${options.webExtra ?? ''}
});
${
  options.worker
    ? `new Service(environment, 'worker', { command: ['node', '-e', ${JSON.stringify(WORKER_SCRIPT)}], stopTimeout: Duration.seconds(5) });`
    : ''
}
new LoadBalancer(environment, 'public', { service: web, ports: [80] });
new Database(environment, 'main', { databases: ['app'], roles: [{ name: 'app', databases: ['app'] }] });
${options.extra ?? ''}
`;
}

/** Processes whose command line mentions `needle` (their PIDs). */
export async function processesMentioning(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    if (cmdline.includes(needle) && !/^State:\s+Z/m.test(status)) pids.push(Number(entry));
  }
  return pids;
}

/** Whether something accepts connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Sends SIGKILL to each PID (only processes this test started, found by their unique paths). */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** A `slipway server` child process. */
export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** SIGTERM, and wait. */
  stop(): Promise<void>;
  /** SIGKILL, at once. */
  kill(): Promise<void>;
}

const BIN = new URL('../bin/slipway.js', import.meta.url).pathname;

/** Starts the built server on a data directory (the embedded PostgreSQL), with its own local root. */
export async function startServerProcess(options: {
  dataDir: string;
  localRoot: string;
  adminPassword: string;
  port?: number;
  logFile: string;
  /** More environment variables for the server (e.g. SLIPWAY_ROOT_KEY_FILE). */
  env?: Readonly<Record<string, string>>;
}): Promise<ServerProcess> {
  const port = options.port ?? (await freePort());
  const log = openSync(options.logFile, 'a');
  const child = spawn(
    process.execPath,
    [BIN, 'server', '--data-dir', options.dataDir, '--port', String(port), '--log-level', 'info'],
    {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/root',
        SLIPWAY_ADMIN_PASSWORD: options.adminPassword,
        SLIPWAY_LOCAL_ROOT: options.localRoot,
        ...options.env,
      },
      stdio: ['ignore', log, log],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`the server exited with ${child.exitCode}; see ${options.logFile}`);
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const exited = () =>
    new Promise<void>((resolve) =>
      child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
    );
  return {
    url,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited();
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited();
    },
  };
}

/** An API token of a user, by password. */
export async function tokenFor(url: string, username: string, password: string): Promise<string> {
  const response = await fetch(`${url}/api/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password, name: `test-${Date.now()}` }),
  });
  if (!response.ok) throw new Error(`login failed: ${await response.text()}`);
  return ((await response.json()) as { value: string }).value;
}

/** Where a test keeps things: join(dir, ...). */
export const at = (dir: string, ...parts: string[]) => join(dir, ...parts);

/** Seeds a host in `environment` and joins an agent for it; returns the host's agent credential. */
export async function joinSeededHost(t: TestServer, environment: string, name: string): Promise<string> {
  const db = t.server.store.db;
  const hostId = await seedHost(db, environment, name);
  const joined = await t.inject('POST', '/api/agent/join', {
    headers: { authorization: `Bearer ${await issueJoinToken(db, hostId, new Date())}` },
    body: { agentVersion: 'test', instance: 'test' },
  });
  expect(joined.statusCode).toBe(201);
  return joined.json().credential;
}
