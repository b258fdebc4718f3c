/**
 * Environments as code on the local provider, end to end with the built CLI against a control plane
 * running as its own process: an infrastructure repository (a real git repository) defines
 * integration, staging and production; `slipway env apply` brings each up (sandboxed hosts with
 * connected agents, HAProxy, PostgreSQL); `env show --json` reports them healthy; agents and
 * processes that die come back; a control plane killed mid-apply converges on the next apply without
 * duplicates; `env destroy` leaves no process, port or directory behind.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createInfraRepository, type InfraRepository } from '../src/environments/testing.ts';
import {
  environmentFile,
  killAll,
  listening,
  processesMentioning,
  type ServerProcess,
  startServerProcess,
  tokenFor,
} from './environments-support.ts';
import { type CliResult, runCli } from './support/cli.ts';

const PASSWORD = 'env-e2e-admin-password';
let dir: string;
let localRoot: string;
let repo: InfraRepository;
let server: ServerProcess;
let token: string;
let port: number;

function cli(args: readonly string[], timeoutMs = 240_000): Promise<CliResult> {
  return runCli(args, {
    env: { SLIPWAY_URL: server.url, SLIPWAY_TOKEN: token, SLIPWAY_CONFIG: join(dir, 'cli.json') },
    timeoutMs,
  });
}

async function show(name: string): Promise<any> {
  const result = await cli(['env', 'show', name, '--json'], 30_000);
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout);
}

async function until<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function startServer(): Promise<void> {
  server = await startServerProcess({
    dataDir: join(dir, 'data'),
    localRoot,
    adminPassword: PASSWORD,
    port,
    logFile: join(dir, 'server.log'),
  });
  token = await tokenFor(server.url, 'admin', PASSWORD);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-env-e2e-'));
  await chmod(dir, 0o711); // the postgres OS user passes through to the clusters below
  localRoot = join(dir, 'local');
  port = await (await import('../src/store/testing.ts')).freePort();
  repo = await createInfraRepository();
  await repo.commit({
    'environments/integration.ts': environmentFile('integration', { approval: 'admin' }),
    'environments/staging.ts': environmentFile('staging', { worker: true }),
    'environments/production.ts': environmentFile('production', { web: 2 }),
    'README.md': '# Infrastructure\n',
  });
  await startServer();
  const set = await cli(['env', 'source', 'set', repo.path, '--branch', 'main', '--poll-interval', '1h']);
  expect(set.code).toBe(0);
}, 180_000);

afterAll(async () => {
  // Whatever a failed test left: every process that mentions this test's directory, by PID.
  await server?.stop().catch(() => undefined);
  killAll(await processesMentioning(dir));
  await new Promise((resolve) => setTimeout(resolve, 500));
  killAll(await processesMentioning(dir));
  await repo?.remove();
  await rm(dir, { recursive: true, force: true });
}, 120_000);

describe('environments on the local provider (CLI against a control plane process)', () => {
  const environments = ['integration', 'staging', 'production'] as const;

  test('env apply brings up each environment; env show --json reports it healthy', async () => {
    for (const name of environments) {
      const applied = await cli(['env', 'apply', name]);
      expect({ name, code: applied.code, stderr: applied.stderr }).toStrictEqual({
        name,
        code: 0,
        stderr: '',
      });
      expect(applied.stdout).toContain(`"${name}" is applied and healthy`);
    }
    const seen = { lb: new Set<number>(), db: new Set<number>() };
    for (const name of environments) {
      const view = await show(name);
      expect(view.status).toBe('healthy');
      expect(view.problems).toStrictEqual([]);
      expect(view.isolation.isolated).toBe(true);
      const hosts =
        name === 'production'
          ? ['web-1', 'web-2']
          : name === 'staging'
            ? ['web-1', 'worker-1', 'worker-2']
            : ['web-1'];
      expect(view.hosts.map((h: any) => h.name)).toStrictEqual(hosts);
      for (const host of view.hosts) {
        expect(host).toMatchObject({ status: 'healthy', agent: { connected: true, running: true } });
        expect(host.processes.every((p: any) => p.state === 'running' && p.hostPid > 0)).toBe(true);
      }
      expect(view.loadBalancer).toMatchObject({ status: 'healthy', running: true });
      expect(view.loadBalancer.servers.every((s: any) => s.status === 'UP')).toBe(true);
      expect(view.database).toMatchObject({
        status: 'healthy',
        running: true,
        databases: ['app'],
        roles: ['app'],
      });
      // Traffic through the environment's HAProxy reaches its web hosts, configured with the database.
      const lbUrl = view.loadBalancer.endpoints[0].url;
      const answer = await (await fetch(lbUrl)).json();
      expect(answer).toMatchObject({
        environment: name,
        database: 'app',
        user: 'app',
        password: 'set',
        url: 'set',
        db: 'reachable',
      });
      seen.lb.add(Number(new URL(lbUrl).port));
      seen.db.add(view.database.port);
    }
    // Side by side: every environment has its own ports.
    expect(seen.lb.size).toBe(3);
    expect(seen.db.size).toBe(3);
  }, 600_000);

  test('a second apply with no change is a no-op', async () => {
    const before = await show('integration');
    const planned = await cli(['env', 'plan', 'integration']);
    expect(planned.code).toBe(0);
    expect(planned.stdout).toContain('0 to create, 0 to change, 0 to remove');
    const applied = await cli(['env', 'apply', 'integration']);
    expect(applied.code).toBe(0);
    const after = await show('integration');
    expect(after.hosts[0].agent.pid).toBe(before.hosts[0].agent.pid);
    expect(after.hosts[0].processes[0].hostPid).toBe(before.hosts[0].processes[0].hostPid);
    expect(after.hosts[0].revision).toStrictEqual(before.hosts[0].revision);
    expect(
      after.lastApply.steps.filter((s: any) => s.action === 'create' || s.action === 'update'),
    ).toStrictEqual([]);
  }, 120_000);

  test('a killed agent makes the host unhealthy within 10 s, and the provider starts it again', async () => {
    const before = (await show('production')).hosts.find((h: any) => h.name === 'web-2');
    const killedAt = Date.now();
    process.kill(before.agent.pid, 'SIGKILL');
    // Read through the API, not the CLI: a CLI process per poll is slow on a busy machine, and the
    // provider may start the agent again before a slow poll sees the gap.
    const unhealthy = await until(
      async () => {
        const response = await fetch(`${server.url}/api/environments/production`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const host = ((await response.json()) as any).hosts.find((h: any) => h.name === 'web-2');
        return host.status !== 'healthy' ? host : undefined;
      },
      10_000,
      'the host to be reported unhealthy',
      100,
    );
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect(unhealthy.problems.length).toBeGreaterThan(0);
    const back = await until(
      async () => {
        const host = (await show('production')).hosts.find((h: any) => h.name === 'web-2');
        return host.status === 'healthy' && host.agent.pid !== before.agent.pid ? host : undefined;
      },
      60_000,
      'a new agent and a healthy host',
    );
    expect(back.agent.instance).not.toBe(before.agent.instance);
    expect(back.events.map((e: any) => e.kind)).toContain('agent-restarted');
  }, 120_000);

  test('a killed process is restarted with backoff', async () => {
    const pidOf = async () =>
      (await show('staging')).hosts
        .find((h: any) => h.name === 'web-1')
        .processes.find((p: any) => p.name === 'web');
    const first = await until(
      async () => {
        const p = await pidOf();
        return p?.state === 'running' && p.hostPid ? p : undefined;
      },
      20_000,
      'the running web process',
    );
    process.kill(first.hostPid, 'SIGKILL');
    const restarted = await until(
      async () => {
        const p = await pidOf();
        return p.restarts === first.restarts + 1 &&
          p.state === 'running' &&
          p.hostPid &&
          p.hostPid !== first.hostPid
          ? p
          : undefined;
      },
      20_000,
      'the process to be restarted',
    );
    expect(restarted.lastExit.signal).toBe('SIGKILL');
    process.kill(restarted.hostPid, 'SIGKILL');
    // The second exit follows a short run: the delay doubles (1 s, then 2 s).
    const backoff = await until(
      async () => {
        const p = await pidOf();
        return p.state === 'backoff' ? p : p.restarts >= first.restarts + 2 ? p : undefined;
      },
      10_000,
      'the second restart',
      100,
    );
    expect(backoff.restarts).toBe(first.restarts + 2);
    if (backoff.state === 'backoff') expect(backoff.backoffMs).toBe(2000);
    await until(
      async () => (await show('staging')).status === 'healthy',
      30_000,
      'staging to be healthy again',
    );
  }, 120_000);

  test('a control plane killed in the middle of an apply converges on the next apply without duplicates', async () => {
    await repo.commit({ 'environments/production.ts': environmentFile('production', { web: 4 }) });
    const queued = await cli(['env', 'apply', 'production', '--no-wait', '--json']);
    expect(queued.code).toBe(0);
    const applyId = JSON.parse(queued.stdout).id;
    // Wait until the new hosts are being made (polling the API directly: the CLI is too slow to
    // catch the moment), then kill -9 the control plane.
    await until(
      async () => {
        const response = await fetch(`${server.url}/api/environments/production/applies/${applyId}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const apply = (await response.json()) as { steps: { resource: string; status: string }[] };
        return apply.steps.some((s) => s.resource.startsWith('host/web-') && s.status === 'running');
      },
      120_000,
      'the apply to start creating the new hosts',
      20,
    );
    await server.kill();
    await startServer();
    const applied = await cli(['env', 'apply', 'production']);
    expect({ code: applied.code, stderr: applied.stderr }).toStrictEqual({ code: 0, stderr: '' });
    const view = await show('production');
    expect(view.status).toBe('healthy');
    expect(view.hosts.map((h: any) => h.name)).toStrictEqual(['web-1', 'web-2', 'web-3', 'web-4']);
    expect(view.loadBalancer.servers.map((s: any) => s.name).sort()).toStrictEqual([
      'web-1',
      'web-2',
      'web-3',
      'web-4',
    ]);
    // Exactly one agent per host, one HAProxy and one PostgreSQL for the environment.
    const agents = await processesMentioning(':production/');
    const agentProcesses = [];
    for (const pid of agents) {
      const cmdline = await import('node:fs/promises')
        .then((fs) => fs.readFile(`/proc/${pid}/cmdline`, 'utf8'))
        .catch(() => '');
      if (cmdline.split('\0')[0]!.endsWith('node') && cmdline.includes('agent/main.js'))
        agentProcesses.push(pid);
    }
    expect(agentProcesses.length).toBe(4);
    expect(await processesMentioning(join(localRoot, 'envs', 'production', 'haproxy'))).toHaveLength(2); // master and worker
    const history = JSON.parse((await cli(['env', 'history', 'production', '--json'])).stdout);
    const resumed = history.find((a: any) => a.id === applyId);
    expect(resumed.status).toBe('succeeded');
    expect(resumed.steps.map((s: any) => s.action)).toContain('resume');
  }, 400_000);

  test('env destroy leaves no process, port or directory behind', async () => {
    const ports: number[] = [];
    for (const name of environments) {
      const view = await show(name);
      ports.push(Number(new URL(view.loadBalancer.endpoints[0].url).port), view.database.port);
    }
    for (const name of environments) {
      const destroyed = await cli(['env', 'destroy', name, '--yes']);
      expect({ name, code: destroyed.code, stderr: destroyed.stderr }).toStrictEqual({
        name,
        code: 0,
        stderr: '',
      });
      expect((await show(name)).status).toBe('destroyed');
    }
    expect(await processesMentioning(localRoot)).toStrictEqual([]);
    const tag = createHash('sha256').update(localRoot).digest('hex').slice(0, 10);
    expect(await processesMentioning(`--label=${tag}:`)).toStrictEqual([]);
    for (const p of ports)
      expect({ port: p, open: await listening(p) }).toStrictEqual({ port: p, open: false });
    expect(await readdir(join(localRoot, 'envs'))).toStrictEqual([]);
  }, 300_000);
});
