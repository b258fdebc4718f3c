/**
 * Environments benchmark (Environments issue): the time from `env apply` to all hosts healthy on the
 * local provider, for 1, 5 and 20 hosts, against a baseline run in the same process: spawning the
 * same number of bare processes of the same web service and waiting for their health checks. Also
 * the resident memory of each agent (target < 60 MB per agent).
 *
 * The control plane runs as its own process on the embedded PostgreSQL; hosts are bubblewrap
 * sandboxes with their own agents; each environment has its HAProxy in front.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { resolve } from 'node:path';
import { createInfraRepository } from '../src/environments/testing.ts';
import { freePort } from '../src/store/testing.ts';
import { removeBenchDir, report, startBenchServer } from './support.ts';

const PASSWORD = 'bench-admin-password';
const SIZES = (process.env.BENCH_HOSTS ?? '1,5,20').split(',').map(Number);

const WEB = `const http=require('node:http');const s=http.createServer((q,r)=>r.end('ok'));s.listen(Number(process.env.PORT),'127.0.0.1');process.on('SIGTERM',()=>s.close(()=>process.exit(0)));`;

function environmentFile(name: string, hosts: number): string {
  return `import { Approval, Duration, Environment, Infrastructure, LoadBalancer, Provider, Scaling, Service } from 'slipway/environments';
const environment = new Environment(new Infrastructure(), '${name}', { provider: Provider.local(), approval: Approval.byAdmin() });
const web = new Service(environment, 'web', {
  command: ['node', '-e', ${JSON.stringify(WEB)}],
  port: 8080,
  scaling: Scaling.fixed(${hosts}),
  healthCheck: { path: '/healthz', interval: Duration.millis(250), timeout: Duration.millis(200), rise: 1, fall: 2 },
  stopTimeout: Duration.seconds(5),
});
new LoadBalancer(environment, 'public', { service: web, ports: [80] });
`;
}

function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', timeout: 200, agent: false }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) < 400);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Baseline: N bare processes of the same service, spawned at once, until every health check passes. */
async function baseline(n: number): Promise<number> {
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
  const started = performance.now();
  const children: ChildProcess[] = ports.map((port) =>
    spawn(process.execPath, ['-e', WEB], {
      env: { PATH: process.env.PATH ?? '', PORT: String(port) },
      stdio: 'ignore',
    }),
  );
  try {
    const pending = new Set(ports);
    while (pending.size > 0) {
      for (const port of [...pending]) if (await probe(port)) pending.delete(port);
      if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return performance.now() - started;
  } finally {
    for (const child of children) child.kill('SIGKILL');
  }
}

async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}

const server = await startBenchServer({ adminPassword: PASSWORD });
const repo = await createInfraRepository();
try {
  const login = await fetch(`${server.url}/api/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: PASSWORD, name: 'bench' }),
  });
  const { value: token } = (await login.json()) as { value: string };
  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<any>;
  };
  const files: Record<string, string> = {};
  for (const n of SIZES) files[`environments/bench-${n}.ts`] = environmentFile(`bench-${n}`, n);
  await repo.commit(files);
  await api('PUT', '/api/environment-source', { url: repo.path, branch: 'main', pollInterval: '1h' });

  const rows: Record<string, string | number>[] = [];
  const summary: Record<string, unknown> = {};
  let agentRss: number[] = [];
  for (const n of SIZES) {
    const name = `bench-${n}`;
    const base = await baseline(n);
    const started = performance.now();
    const apply = await api('POST', `/api/environments/${name}/apply`, {});
    // The apply ends (succeeded) only once every host, agent and load balancer server is healthy.
    let applied: any;
    while (true) {
      applied = await api('GET', `/api/environments/${name}/applies/${apply.id}`);
      if (applied.status === 'succeeded') break;
      if (applied.status === 'failed') throw new Error(`apply of ${name} failed: ${applied.error}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const healthyMs = performance.now() - started;
    const view = await api('GET', `/api/environments/${name}`);
    const evaluateMs = new Date(applied.startedAt).getTime() - new Date(applied.requestedAt).getTime();
    const memory = await Promise.all(view.hosts.map((h: any) => rss(h.agent.pid)));
    if (n === Math.max(...SIZES)) agentRss = memory;
    const destroyStarted = performance.now();
    const destroy = await api('POST', `/api/environments/${name}/destroy`, { confirm: name });
    while ((await api('GET', `/api/environments/${name}/applies/${destroy.id}`)).status !== 'succeeded') {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const destroyMs = performance.now() - destroyStarted;
    rows.push({
      hosts: n,
      'apply→healthy ms': Math.round(healthyMs),
      'of which plan ms': Math.round(evaluateMs),
      'baseline ms': Math.round(base),
      ratio: Number((healthyMs / base).toFixed(1)),
      'agent RSS max MB': Number((Math.max(...memory) / 1e6).toFixed(1)),
      'destroy ms': Math.round(destroyMs),
    });
    summary[`hosts${n}`] = {
      applyToHealthyMs: Math.round(healthyMs),
      baselineMs: Math.round(base),
      ratio: Number((healthyMs / base).toFixed(2)),
    };
  }
  const maxRss = Math.max(...agentRss);
  report(
    'environments: env apply → all hosts healthy (local provider), baseline = bare spawn + health',
    rows,
    {
      ...summary,
      agentRssMaxMB: Number((maxRss / 1e6).toFixed(1)),
      agentRssAvgMB: Number((agentRss.reduce((a, b) => a + b, 0) / agentRss.length / 1e6).toFixed(1)),
      agentRssTargetMB: 60,
      agentRssTargetMet: maxRss < 60e6,
    },
  );
} finally {
  await server.stop();
  // Whatever a failed run left behind: processes under the data directory, and this root's agents.
  const tag = createHash('sha256').update(resolve(server.dataDir, 'local')).digest('hex').slice(0, 10);
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(server.dataDir) || cmdline.includes(`--label=${tag}:`)) {
      try {
        process.kill(Number(entry), 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  await repo.remove();
  await removeBenchDir(server.dataDir);
}
