import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from '../../store/testing.ts';
import { LocalLoadBalancer, renderHaproxyConfig } from './haproxy-load-balancer.ts';
import { HaproxyCommandError } from './haproxy-runtime.ts';

// A real HAProxy in front of real HTTP servers on 127.0.0.1, ports picked by the OS.
let dir: string;
let lb: LocalLoadBalancer;
let frontPort: number;
const backends: { name: string; port: number; server: Server }[] = [];

async function backend(name: string): Promise<{ name: string; port: number; server: Server }> {
  const server = createServer((req, res) => {
    res.setHeader('x-backend', name);
    res.end(req.url === '/healthz' ? 'ok' : name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const entry = { name, port, server };
  backends.push(entry);
  return entry;
}

const check = { path: '/healthz', intervalMs: 200, timeoutMs: 200, rise: 1, fall: 2 };

async function hits(n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const response = await fetch(`http://127.0.0.1:${frontPort}/`);
    const name = response.headers.get('x-backend') ?? 'none';
    counts[name] = (counts[name] ?? 0) + 1;
    await response.text();
  }
  return counts;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-haproxy-'));
  lb = new LocalLoadBalancer(dir);
  frontPort = await freePort();
  const [a, b] = [await backend('web-1'), await backend('web-2')];
  await lb.ensure({
    name: 'public',
    backend: 'web',
    ports: [frontPort],
    healthCheck: check,
    servers: [
      { name: 'web-1', address: '127.0.0.1', port: a.port },
      { name: 'web-2', address: '127.0.0.1', port: b.port },
    ],
  });
  await lb.runtime.waitForStatus('web', 'web-1', 'UP');
  await lb.runtime.waitForStatus('web', 'web-2', 'UP');
});

afterAll(async () => {
  await lb?.stop();
  for (const b of backends) b.server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('HaproxyRuntime', () => {
  test('re-weights servers without a reload', async () => {
    const pid = await lb.pid();
    await lb.runtime.setWeight('web', 'web-1', 0);
    expect(await hits(10)).toStrictEqual({ 'web-2': 10 });
    await lb.runtime.setWeight('web', 'web-1', 100);
    const counts = await hits(10);
    expect(counts['web-1']).toBeGreaterThan(0);
    expect(await lb.pid()).toBe(pid);
  });

  test('drains, disables and enables a server', async () => {
    await lb.runtime.setState('web', 'web-2', 'drain');
    expect(await hits(6)).toStrictEqual({ 'web-1': 6 });
    // "DRAIN", or "DRAIN 1/2" while a slow health check is being retried on a busy machine.
    expect((await lb.runtime.serverStats('web')).find((s) => s.server === 'web-2')?.status).toMatch(/^DRAIN/);
    await lb.runtime.setState('web', 'web-2', 'ready');
    await lb.runtime.disableServer('web', 'web-1');
    expect(await hits(6)).toStrictEqual({ 'web-2': 6 });
    await lb.runtime.enableServer('web', 'web-1');
    await lb.runtime.waitForStatus('web', 'web-1', 'UP');
  });

  test('adds and deletes a server at run time, checked before it gets traffic', async () => {
    const c = await backend('web-3');
    await lb.runtime.addServer('web', 'web-3', { address: '127.0.0.1', port: c.port, check });
    await lb.runtime.waitForStatus('web', 'web-3', 'UP');
    const state = (await lb.runtime.serversState('web')).find((s) => s.server === 'web-3');
    expect(state).toMatchObject({ address: '127.0.0.1', port: c.port, userWeight: 100 });
    expect(Object.keys(await hits(9)).sort()).toStrictEqual(['web-1', 'web-2', 'web-3']);
    await lb.runtime.deleteServer('web', 'web-3');
    expect(Object.keys(await hits(6)).sort()).toStrictEqual(['web-1', 'web-2']);
  });

  test('reports statistics per server, and a failing check takes a server DOWN', async () => {
    const stats = await lb.runtime.serverStats('web');
    expect(stats.map((s) => s.server).sort()).toStrictEqual(['web-1', 'web-2']);
    expect(stats.every((s) => s.responses2xx > 0)).toBe(true);
    const victim = backends.find((b) => b.name === 'web-2')!;
    victim.server.close();
    victim.server.closeAllConnections();
    await lb.runtime.waitForStatus('web', 'web-2', 'DOWN');
    expect(await hits(4)).toStrictEqual({ 'web-1': 4 });
  });

  test("refuses unknown servers and bad weights with HAProxy's answer", async () => {
    await expect(lb.runtime.setWeight('web', 'nope', 10)).rejects.toThrow(HaproxyCommandError);
    await expect(lb.runtime.setWeight('web', 'web-1', 999)).rejects.toThrow('from 0 to 256');
    await expect(lb.runtime.command('show info\nshutdown sessions')).rejects.toThrow('one command at a time');
  });
});

describe('LocalLoadBalancer', () => {
  test('keeps runtime weights across a configuration reload', async () => {
    const b = await backend('web-4');
    await lb.runtime.setWeight('web', 'web-1', 42);
    const change = await lb.ensure({
      name: 'public',
      backend: 'web',
      ports: [frontPort],
      healthCheck: { ...check, path: '/healthz?v=2' },
      servers: [
        { name: 'web-1', address: '127.0.0.1', port: backends.find((x) => x.name === 'web-1')!.port },
        { name: 'web-4', address: '127.0.0.1', port: b.port },
      ],
    });
    expect(change).toBe('reloaded');
    const states = await lb.runtime.serversState('web');
    expect(states.find((s) => s.server === 'web-1')?.userWeight).toBe(42);
    expect(states.map((s) => s.server).sort()).toStrictEqual(['web-1', 'web-4']);
  });

  test('renders the same configuration for the same spec', () => {
    const spec = {
      name: 'public',
      backend: 'web',
      ports: [2, 1],
      healthCheck: check,
      servers: [
        { name: 'b', address: '127.0.0.1', port: 9 },
        { name: 'a', address: '127.0.0.1', port: 8 },
      ],
    };
    const paths = { socket: '/s', stateFile: '/f' };
    const text = renderHaproxyConfig(spec, paths);
    expect(renderHaproxyConfig({ ...spec, ports: [1, 2], servers: [...spec.servers].reverse() }, paths)).toBe(
      text,
    );
    expect(text).toContain('    option httpchk GET /healthz');
    expect(text).toContain('    server a 127.0.0.1:8 check inter 200 rise 1 fall 2 weight 100');
  });
});
