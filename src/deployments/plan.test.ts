import { describe, expect, test } from 'vitest';
import {
  canaryWeights,
  nextHostNames,
  type PlannedInstance,
  planRollback,
  planRollout,
  type RolloutAction,
} from './plan.ts';
import type { RolloutStrategy } from './strategy.ts';

/** Runs a plan against a model of hosts and a load balancer, checking what users would see at each step. */
function simulate(instances: PlannedInstance[], actions: readonly RolloutAction[]) {
  const hosts = new Map<
    string,
    { release: 'old' | 'new'; weight: number; inBalancer: boolean; healthy: boolean }
  >();
  for (const i of instances)
    hosts.set(i.host, { release: 'old', weight: i.serving ? 100 : 0, inBalancer: i.serving, healthy: true });
  let maxHosts = hosts.size;
  let minServing = Number.POSITIVE_INFINITY;
  const trafficSeen = new Set<string>();
  let predeployBeforeTraffic = true;
  let predeployed = false;
  const serving = () => [...hosts.values()].filter((h) => h.inBalancer && h.weight > 0 && h.healthy);
  for (const action of actions) {
    switch (action.kind) {
      case 'create-host':
        if (!hosts.has(action.host)) {
          hosts.set(action.host, {
            release: action.release ?? 'new',
            weight: 0,
            inBalancer: false,
            healthy: false,
          });
        }
        break;
      case 'wait-healthy':
        hosts.get(action.host)!.healthy = true;
        break;
      case 'install': {
        const host = hosts.get(action.host)!;
        // installing restarts the processes: a host still receiving traffic would drop requests
        expect(host.inBalancer && host.weight > 0, `install on ${action.host} while it serves`).toBe(false);
        host.release = action.release;
        host.healthy = true;
        break;
      }
      case 'serve': {
        const host = hosts.get(action.host)!;
        expect(host.healthy, `${action.host} serves before it is healthy`).toBe(true);
        host.inBalancer = true;
        host.weight = action.weight;
        break;
      }
      case 'weights':
        for (const [name, weight] of Object.entries(action.weights)) {
          const host = hosts.get(name)!;
          if (weight > 0) expect(host.healthy, `${name} gets weight before it is healthy`).toBe(true);
          host.weight = weight;
        }
        break;
      case 'drain': {
        const host = hosts.get(action.host);
        if (host) host.weight = 0; // draining a host that is not there is done already
        break;
      }
      case 'delete-host': {
        const host = hosts.get(action.host);
        if (host) expect(host.weight, `${action.host} deleted while it has traffic`).toBe(0);
        hosts.delete(action.host);
        break;
      }
      case 'hook':
        if (action.hook === 'predeploy') {
          predeployed = true;
          expect(hosts.get(action.host)!.release).toBe('new');
        }
        break;
      case 'gate':
      case 'hold':
        break;
    }
    maxHosts = Math.max(maxHosts, hosts.size);
    const now = serving();
    if (instances.some((i) => i.serving)) {
      minServing = Math.min(minServing, now.length);
      for (const h of now) trafficSeen.add(h.release);
      if (now.some((h) => h.release === 'new') && !predeployed) predeployBeforeTraffic = false;
    }
  }
  return { hosts, maxHosts, minServing, trafficSeen, predeployBeforeTraffic };
}

const web = (n: number): PlannedInstance[] =>
  Array.from({ length: n }, (_, i) => ({ host: `web-${i + 1}`, serving: true }));

const STRATEGIES: { name: string; strategy: RolloutStrategy }[] = [
  {
    name: 'rolling with surge',
    strategy: { strategy: 'rolling', batchSize: 1, maxSurge: 1, maxUnavailable: 0 },
  },
  {
    name: 'rolling in place',
    strategy: { strategy: 'rolling', batchSize: 1, maxSurge: 0, maxUnavailable: 1 },
  },
  {
    name: 'rolling two at a time',
    strategy: { strategy: 'rolling', batchSize: 2, maxSurge: 2, maxUnavailable: 0 },
  },
  { name: 'blue-green', strategy: { strategy: 'blue-green', keepOldMs: 1000 } },
  {
    name: 'canary',
    strategy: {
      strategy: 'canary',
      steps: [10, 50, 100],
      pauseMs: 1000,
      maxErrorRatePercent: 1,
      maxLatencyMs: 500,
    },
  },
];

describe('planRollout()', () => {
  for (const { name, strategy } of STRATEGIES) {
    for (const size of [1, 3, 10]) {
      test(`${name}, ${size} hosts: never drops to zero serving hosts, ends with ${size} hosts on the new release`, () => {
        const plan = planRollout(web(size), strategy);
        const result = simulate(web(size), plan.actions);
        expect(result.minServing).toBeGreaterThan(0);
        expect(result.predeployBeforeTraffic).toBe(true);
        expect(plan.finalHosts).toHaveLength(size);
        expect([...result.hosts.keys()].sort()).toStrictEqual([...plan.finalHosts].sort());
        for (const host of result.hosts.values())
          expect(host).toMatchObject({ release: 'new', inBalancer: true, healthy: true });
        expect(plan.actions.at(-1)).toMatchObject({ kind: 'hook', hook: 'postdeploy' });
      });
    }
  }

  test('rolling with surge keeps the full count serving and adds at most maxSurge hosts', () => {
    const result = simulate(web(3), planRollout(web(3), STRATEGIES[0]!.strategy).actions);
    expect(result.minServing).toBe(3);
    expect(result.maxHosts).toBe(4);
  });

  test('rolling in place never takes more than maxUnavailable hosts out', () => {
    const result = simulate(web(3), planRollout(web(3), STRATEGIES[1]!.strategy).actions);
    expect(result.minServing).toBe(2);
    expect(result.maxHosts).toBe(3);
  });

  test('blue-green switches all traffic in one action and keeps the old set for the hold', () => {
    const plan = planRollout(web(3), STRATEGIES[3]!.strategy);
    const switchIndex = plan.actions.findIndex((a) => a.kind === 'weights');
    expect(plan.actions[switchIndex]).toStrictEqual({
      kind: 'weights',
      weights: { 'web-4': 100, 'web-5': 100, 'web-6': 100, 'web-1': 0, 'web-2': 0, 'web-3': 0 },
    });
    expect(plan.actions[switchIndex + 1]).toStrictEqual({ kind: 'hold', ms: 1000 });
    expect(simulate(web(3), plan.actions).maxHosts).toBe(6);
  });

  test('canary steps through its traffic shares with a gate after each partial step, never above N+1 hosts', () => {
    const plan = planRollout(web(3), STRATEGIES[4]!.strategy);
    const gates = plan.actions.filter((a) => a.kind === 'gate');
    expect(gates).toStrictEqual([
      { kind: 'gate', host: 'web-4', trafficPercent: 10, pauseMs: 1000 },
      { kind: 'gate', host: 'web-4', trafficPercent: 50, pauseMs: 1000 },
    ]);
    expect(simulate(web(3), plan.actions).maxHosts).toBe(4);
  });

  test('hosts without traffic (workers) upgrade in place after the web hosts', () => {
    const instances = [...web(2), { host: 'worker-1', serving: false }];
    const plan = planRollout(instances, STRATEGIES[0]!.strategy);
    expect(plan.actions.filter((a) => a.kind === 'install')).toStrictEqual([
      { kind: 'install', host: 'worker-1', release: 'new' },
    ]);
  });
});

describe('canaryWeights()', () => {
  test('gives the canary about the asked share of 256', () => {
    for (const [percent, old] of [
      [10, 3],
      [50, 3],
      [25, 1],
      [1, 10],
    ] as const) {
      const w = canaryWeights(percent, old);
      const share = (100 * w.canary) / (w.canary + old * w.old);
      expect(Math.abs(share - percent)).toBeLessThan(2);
    }
    expect(canaryWeights(100, 3)).toStrictEqual({ canary: 256, old: 0 });
  });
});

describe('nextHostNames()', () => {
  test('takes the first free numbers of the service prefix', () => {
    expect(nextHostNames(['web-1', 'web-2', 'web-4'], 'web-2', 2)).toStrictEqual(['web-3', 'web-5']);
  });
});

describe('planRollout() refuses downtime', () => {
  test('rolling in place on a single host surges by one instead of taking it out', () => {
    const plan = planRollout(web(1), { strategy: 'rolling', batchSize: 1, maxSurge: 0, maxUnavailable: 1 });
    expect(plan.actions.slice(0, 2)).toStrictEqual([
      { kind: 'create-host', host: 'web-2', like: 'web-1' },
      { kind: 'wait-healthy', host: 'web-2' },
    ]);
  });
});

describe('planRollback()', () => {
  for (const { name, strategy } of STRATEGIES) {
    test(`${name}: stopped after any action, the rollback serves the old release on the original hosts without a gap`, () => {
      const instances = [...web(3), { host: 'worker-1', serving: false }];
      const plan = planRollout(instances, strategy);
      for (let done = 0; done < plan.actions.length; done++) {
        const rollback = planRollback(instances, plan, done);
        const result = simulate(instances, [...plan.actions.slice(0, done), ...rollback]);
        expect(result.minServing, `stopped after ${done} actions`).toBeGreaterThan(0);
        expect([...result.hosts.keys()].sort(), `stopped after ${done} actions`).toStrictEqual(
          instances.map((i) => i.host).sort(),
        );
        for (const [host, state] of result.hosts) {
          expect(state.release, `${host} after stopping at ${done}`).toBe('old');
          if (host.startsWith('web')) expect(state).toMatchObject({ inBalancer: true, weight: 100 });
        }
      }
    });
  }
});
