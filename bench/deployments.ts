/**
 * Deployments benchmark (Deployments issue): the time to roll a new release of the reference app
 * (Laravel on php-fpm, a queue worker, PostgreSQL) over N = 1, 3 and 10 web instances of an
 * environment on the local provider — rolling, one at a time with a surge of one — against the floor
 * measured in the same run: the time each new instance itself took to be created, install the .deb
 * (apt, maintainer scripts) and start and pass its health check, summed over the instances (they go
 * one after another). The ratio is what the orchestration adds (hooks, load-balancer moves, draining
 * the old instances, verification); target ≤ 1.3×.
 *
 * The control plane runs in this process on its own PostgreSQL cluster; hosts are bubblewrap
 * sandboxes with their agents, and each environment has its HAProxy. `BENCH_INSTANCES=1,3` picks sizes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInfraRepository } from '../src/environments/testing.ts';
import { generateRootKey } from '../src/secrets/index.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';
import {
  buildReferenceApp,
  destroyEnvironment,
  laravelEnvironment,
  laravelKey,
  publish,
} from '../test/deployments-support.ts';
import { report } from './support.ts';

const SIZES = (process.env.BENCH_INSTANCES ?? '1,3,10').split(',').map(Number);
const V1 = '1.0.0~b1+g0000001';
const V2 = '1.0.0~b2+g0000002';

interface Event {
  readonly at: string;
  readonly message: string;
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function deploy(
  t: TestServer,
  environment: string,
  version: string,
): Promise<{ number: number; ms: number; events: Event[] }> {
  const started = performance.now();
  const response = await t.inject('POST', '/api/deployments', {
    token: t.adminToken,
    body: {
      environment,
      app: 'laravel-app',
      version,
      strategy: { strategy: 'rolling', batchSize: 1, maxSurge: 1 },
    },
  });
  if (response.statusCode !== 201) throw new Error(`deploy refused: ${response.body}`);
  const number = response.json().number as number;
  const done = await until(`deployment #${number}`, 1_800_000, async () => {
    const d = (await t.inject('GET', `/api/deployments/${number}`, { token: t.adminToken })).json();
    return ['succeeded', 'failed', 'rolled_back'].includes(d.state) ? d : undefined;
  });
  const ms = performance.now() - started;
  const events = (
    await t.inject('GET', `/api/deployments/${number}/events`, { token: t.adminToken })
  ).json() as Event[];
  if (done.state !== 'succeeded')
    throw new Error(`deployment #${number} ${done.state}: ${events.map((e) => e.message).join('\n')}`);
  return { number, ms, events };
}

/**
 * The steps of a deployment's event log with how long each took: until the next step began (the
 * runner takes them one at a time; lines in between — hook output, "removed HOST" from a removal
 * going on in the background — are not steps), the last one until the deployment's last line.
 */
function timedSteps(events: readonly Event[]): { kind: string; host: string; ms: number }[] {
  const steps = events.filter((e) => /^\d+\/\d+: /.test(e.message));
  const end = Date.parse(events.at(-1)!.at);
  return steps.map((event, i) => {
    const text = event.message.replace(/^\d+\/\d+: /, '');
    const verb = text.split(' ')[0]!;
    const kind = verb === 'put' ? 'serve' : verb === 'run' ? 'hook' : verb;
    const host = /(?:on|create|drain|remove|until|put) (\S+)/.exec(text)?.[1]?.replace(/[(,]$/, '') ?? '';
    const next = steps[i + 1];
    return { kind, host, ms: (next ? Date.parse(next.at) : end) - Date.parse(event.at) };
  });
}

/**
 * The floor from a deployment's own event log: what the instances themselves took — being created,
 * installing the .deb (apt and the maintainer scripts), starting and passing their health checks (the
 * agent's, then the load balancer's before it sends traffic) — summed, since they go one at a time.
 * Everything else (release hooks, draining and removing old instances, weights) is orchestration.
 */
function floorMs(steps: readonly { kind: string; ms: number }[]): number {
  return steps
    .filter((s) => ['create', 'install', 'wait', 'serve'].includes(s.kind))
    .reduce((sum, s) => sum + s.ms, 0);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-deploy-'));
  const [t, app, repo] = await Promise.all([
    startTestServer({ rootKey: generateRootKey() }),
    buildReferenceApp(dir),
    createInfraRepository(),
  ]);
  const rows: Record<string, string | number>[] = [];
  const ratios: Record<string, number> = {};
  try {
    for (const version of [V1, V2]) await publish(t, app, await app.package(version), version);
    const source = await t.inject('PUT', '/api/environment-source', {
      token: t.adminToken,
      body: { url: repo.path, branch: 'main', pollInterval: '1h' },
    });
    if (source.statusCode !== 200) throw new Error(source.body);
    for (const n of SIZES) {
      const name = `bench${n}`;
      await t.inject('POST', `/api/secrets/environments/${name}/APP_KEY`, {
        token: t.adminToken,
        body: { value: laravelKey(), reason: 'bench' },
      });
      await repo.commit({ [`environments/${name}.ts`]: laravelEnvironment(name, { web: n }) });
      await t.inject('POST', '/api/environment-source/check', { token: t.adminToken });
      const applied = await until(`${name} applied`, 900_000, async () => {
        const view = (await t.inject('GET', `/api/environments/${name}`, { token: t.adminToken })).json();
        return ['succeeded', 'failed'].includes(view.lastApply?.status) ? view : undefined;
      });
      if (applied.lastApply.status !== 'succeeded')
        throw new Error(`${name} did not apply: ${JSON.stringify(applied.lastApply)}`);
      process.stdout.write(`${name}: ${n} web instances applied; first release …\n`);
      const first = await deploy(t, name, V1);
      process.stdout.write(`${name}: first release in ${(first.ms / 1000).toFixed(1)} s; rolling …\n`);
      const rolled = await deploy(t, name, V2);
      const steps = timedSteps(rolled.events);
      const floor = floorMs(steps);
      const ratio = rolled.ms / floor;
      const byKind: Record<string, number> = {};
      for (const step of steps) byKind[step.kind] = (byKind[step.kind] ?? 0) + step.ms;
      process.stdout.write(
        `${name}: rolled in ${(rolled.ms / 1000).toFixed(1)} s; by step kind (s): ${Object.entries(byKind)
          .map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)}`)
          .join(', ')}\n`,
      );
      ratios[`n${n}`] = Number(ratio.toFixed(2));
      rows.push({
        instances: n,
        'first release s': (first.ms / 1000).toFixed(1),
        'rolling s': (rolled.ms / 1000).toFixed(1),
        'floor s': (floor / 1000).toFixed(1),
        'per instance s': (floor / (n + 1) / 1000).toFixed(1), // n web hosts and the worker host
        'ratio (target ≤ 1.3)': ratio.toFixed(2),
      });
      await destroyEnvironment(t, name, 300_000);
      await repo.commit({ [`environments/${name}.ts`]: null });
    }
    report('rolling a release over N web instances vs the instances’ own install+start+health time', rows, {
      ratios,
      target: 1.3,
    });
  } finally {
    await t.stop();
    await repo.remove();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
