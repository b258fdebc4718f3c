/**
 * The host agent against a real control plane (in this process, on 127.0.0.1): it joins once with a
 * one-time token, then uses its own credential; it runs its host's desired state; it keeps running
 * it while the control plane is down, and reconnects. Agent credentials open only agent routes.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Agent } from '../src/agent/index.ts';
import { eventually, TINY_HTTP_SERVER } from '../src/agent/testing.ts';
import { getHost, issueJoinToken, revokeHostCredential, setHostDocument } from '../src/environments/index.ts';
import { seedHost } from '../src/environments/testing.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';
import { freePort } from '../src/store/testing.ts';

let dir: string;
let t: TestServer;
let hostId: string;
let joinToken: string;
let webPort: number;
let agent: Agent | undefined;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-agent-test-'));
  await chmod(dir, 0o700);
  t = await startTestServer({ port: await freePort(), dataDir: join(dir, 'data') });
  const db = t.server.store.db;
  hostId = await seedHost(db, 'agenttest', 'web-1');
  joinToken = await issueJoinToken(db, hostId, new Date());
  webPort = await freePort();
  await setHostDocument(db, hostId, {
    schemaVersion: 1,
    environment: 'agenttest',
    host: { id: hostId, name: 'web-1', services: ['web'] },
    release: null,
    processes: [
      {
        name: 'web',
        command: ['node', '-e', TINY_HTTP_SERVER],
        cwd: null,
        user: null,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: String(webPort), HOSTNAME_LABEL: 'web-1' },
        secrets: {},
        healthCheck: { path: '/healthz', port: webPort, intervalMs: 200, timeoutMs: 200, rise: 1, fall: 2 },
        stopSignal: 'SIGTERM',
        stopTimeoutMs: 2000,
        restart: { policy: 'always', initialDelayMs: 200, maxDelayMs: 1000, resetAfterMs: 10_000 },
        logs: { maxBytes: 1024 * 1024, keep: 1 },
      },
    ],
    tasks: [],
  });
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('the host agent', () => {
  test('joins once with its token, then runs and reports its desired state with its own credential', async () => {
    agent = new Agent({
      server: t.server.url,
      stateDirectory: join(dir, 'state'),
      logDirectory: join(dir, 'logs'),
      joinToken,
      reportIntervalMs: 300,
      pollWaitMs: 2000,
      version: 'test',
    });
    agent.start();
    const running = await eventually(
      async () => {
        const host = await getHost(t.server.store.db, hostId);
        const report = host?.report as any;
        return report?.processes?.[0]?.health?.status === 'healthy' ? report : undefined;
      },
      20_000,
      'a healthy report',
    );
    expect(running.appliedRevision).toBe((await getHost(t.server.store.db, hostId))!.revision);
    expect(await (await fetch(`http://127.0.0.1:${webPort}/`)).text()).toBe('hello from web-1');
    // The token is used up.
    const again = await fetch(`${t.server.url}/api/agent/join`, {
      method: 'POST',
      headers: { authorization: `Bearer ${joinToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ agentVersion: 'x', instance: 'y' }),
    });
    expect(again.status).toBe(401);
    expect(((await again.json()) as { error: { message: string } }).error.message).toBe(
      'The join token is not valid or was already used',
    );
  }, 60_000);

  test('a host credential opens only the agent routes, and users cannot call them', async () => {
    const credential = JSON.parse(
      await import('node:fs/promises').then((fs) =>
        fs.readFile(join(dir, 'state', 'credential.json'), 'utf8'),
      ),
    ).credential as string;
    expect(credential).toMatch(/^sla_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
    const asAgent = await t.inject('GET', '/api/agent/desired-state?after=999&waitMs=0', {
      token: credential,
    });
    expect(asAgent.statusCode).toBe(200);
    const onUserRoute = await t.inject('GET', '/api/whoami', { token: credential });
    expect(onUserRoute.statusCode).toBe(401);
    expect(onUserRoute.json().error.message).toBe('A host credential cannot call this route');
    const userOnAgentRoute = await t.inject('GET', '/api/agent/desired-state', { token: t.adminToken });
    expect(userOnAgentRoute.statusCode).toBe(401);
    expect(userOnAgentRoute.json().error.message).toBe(
      'This route is for host agents: a host credential is required',
    );
    const forged = await t.inject('POST', '/api/agent/status', {
      token: `${credential.slice(0, -3)}AAA`,
      body: {},
    });
    expect(forged.statusCode).toBe(401);
    const audit = await t.inject('GET', '/api/audit?action=agents.report', { token: t.adminToken });
    // Routine reports are not audited; the refused one is.
    expect(audit.json().map((e: any) => [e.actor, e.outcome])).toStrictEqual([['anonymous', 'denied']]);
  });

  test('keeps running the last desired state while the control plane is down, and reconnects', async () => {
    const pid = ((await getHost(t.server.store.db, hostId))!.report as any).processes[0].pid as number;
    await t.stopServer();
    await eventually(() => !agent!.connected, 30_000, 'the agent to notice');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(alive(pid)).toBe(true);
    expect(await (await fetch(`http://127.0.0.1:${webPort}/`)).text()).toBe('hello from web-1');
    const down = Date.now();
    await t.restartServer();
    await eventually(() => agent!.connected, 30_000, 'the agent to reconnect');
    await eventually(
      async () => {
        const host = await getHost(t.server.store.db, hostId);
        return host?.reported_at && host.reported_at.getTime() > down;
      },
      10_000,
      'a report after the restart',
    );
    expect(((await getHost(t.server.store.db, hostId))!.report as any).processes[0].pid).toBe(pid);
  }, 90_000);

  test('a revoked credential is refused', async () => {
    await revokeHostCredential(t.server.store.db, hostId, new Date());
    const credential = JSON.parse(
      await import('node:fs/promises').then((fs) =>
        fs.readFile(join(dir, 'state', 'credential.json'), 'utf8'),
      ),
    ).credential as string;
    const refused = await t.inject('GET', '/api/agent/desired-state?waitMs=0', { token: credential });
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error.message).toBe('The host credential was revoked');
  });
});
