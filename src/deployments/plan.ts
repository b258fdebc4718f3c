/**
 * Rollout planning: from the instances an environment runs now and a strategy, the ordered list of
 * actions that moves every instance to the new release without dropping a request. Planning is
 * pure and deterministic; the executor runs the actions one by one, recording each, and every action
 * is idempotent ("ensure …"), so a control plane killed mid-rollout resumes at the recorded action.
 */
import type { RolloutStrategy as DeployStrategyModel } from './strategy.ts';

/** An instance (a host running the environment's web or worker processes). */
export interface PlannedInstance {
  /** The host's name in the environment, such as "web-2". */
  readonly host: string;
  /** Whether the load balancer sends it traffic (web hosts). */
  readonly serving: boolean;
}

/** One step of a rollout. Every action is safe to run again. */
export type RolloutAction =
  /** Run a release hook (once, on one host) and wait for it to succeed. */
  | { readonly kind: 'hook'; readonly hook: 'predeploy' | 'postdeploy'; readonly host: string }
  /** Create a host that runs a release (the new one for surge, green set, canary; the old one in a rollback). */
  | {
      readonly kind: 'create-host';
      readonly host: string;
      readonly like: string;
      readonly release?: 'new' | 'old';
    }
  /** Point an existing host at a release and wait until it installed it and its processes are healthy. */
  | { readonly kind: 'install'; readonly host: string; readonly release: 'new' | 'old' }
  /** Wait until a host's processes pass their health checks. */
  | { readonly kind: 'wait-healthy'; readonly host: string }
  /** Put a host in the load balancer (weight out of 256) and wait until the balancer sees it UP. */
  | { readonly kind: 'serve'; readonly host: string; readonly weight: number }
  /** Set several weights at once (canary steps, blue-green switch). */
  | { readonly kind: 'weights'; readonly weights: Readonly<Record<string, number>> }
  /** Stop new traffic to a host and wait for its in-flight requests to finish. */
  | { readonly kind: 'drain'; readonly host: string }
  /** Remove a drained host from the environment (its processes stop gracefully). */
  | { readonly kind: 'delete-host'; readonly host: string }
  /** Wait, then check the canary's error rate and latency against the strategy's gates. */
  | {
      readonly kind: 'gate';
      readonly host: string;
      readonly trafficPercent: number;
      readonly pauseMs: number;
    }
  /** Keep the old set running (for instant rollback) this long before it goes. */
  | { readonly kind: 'hold'; readonly ms: number };

/** The plan and what the environment looks like once it ran. */
export interface RolloutPlan {
  readonly actions: readonly RolloutAction[];
  /** The hosts serving the environment after the rollout. */
  readonly finalHosts: readonly string[];
}

/** Names for new hosts: the service prefix and the first free number. */
export function nextHostNames(existing: readonly string[], like: string, count: number): string[] {
  const prefix = like.replace(/-\d+$/, '');
  const used = new Set(existing.map((h) => Number(/-(\d+)$/.exec(h)?.[1] ?? 0)));
  const names: string[] = [];
  for (let n = 1; names.length < count; n++) if (!used.has(n)) names.push(`${prefix}-${n}`);
  return names;
}

/** The weight (out of 256) each of `old` servers keeps when a canary takes `percent` of the traffic. */
export function canaryWeights(percent: number, oldCount: number): { canary: number; old: number } {
  if (percent >= 100) return { canary: 256, old: 0 };
  if (oldCount === 0) return { canary: 256, old: 0 };
  // canary / (canary + oldCount × old) = percent / 100, with canary + oldCount × old ≈ 256
  const canary = Math.max(1, Math.round((256 * percent) / 100));
  const old = Math.max(1, Math.round((256 - canary) / oldCount));
  return { canary, old };
}

const FULL_WEIGHT = 100;

function rolling(
  instances: readonly PlannedInstance[],
  strategy: Extract<DeployStrategyModel, { strategy: 'rolling' }>,
): RolloutPlan {
  const actions: RolloutAction[] = [];
  const hosts = instances.map((i) => i.host);
  const batch = Math.max(1, strategy.batchSize);
  // Upgrading in place would take every host out at once when there are no more hosts than may be
  // unavailable: surge by one instead, so the environment never stops serving.
  const inPlaceEmptiesIt = instances.length <= Math.max(1, Math.min(batch, strategy.maxUnavailable));
  if (strategy.maxSurge > 0 || strategy.maxUnavailable === 0 || inPlaceEmptiesIt) {
    // Surge: bring up replacements first, so capacity never drops below the current count.
    const surge = Math.max(1, Math.min(strategy.maxSurge || 1, batch));
    const all = [...hosts];
    const finalHosts: string[] = [];
    for (let start = 0; start < instances.length; start += surge) {
      const group = instances.slice(start, start + surge);
      const fresh = nextHostNames(all, group[0]!.host, group.length);
      all.push(...fresh);
      for (const [i, old] of group.entries()) {
        actions.push({ kind: 'create-host', host: fresh[i]!, like: old.host });
      }
      for (const name of fresh) actions.push({ kind: 'wait-healthy', host: name });
      for (const [i, old] of group.entries()) {
        if (old.serving) actions.push({ kind: 'serve', host: fresh[i]!, weight: FULL_WEIGHT });
      }
      for (const old of group) {
        if (old.serving) actions.push({ kind: 'drain', host: old.host });
        actions.push({ kind: 'delete-host', host: old.host });
      }
      finalHosts.push(...fresh);
    }
    return { actions, finalHosts };
  }
  // In place: take at most maxUnavailable hosts out at a time, upgrade them, put them back.
  const step = Math.max(1, Math.min(batch, strategy.maxUnavailable));
  for (let start = 0; start < instances.length; start += step) {
    const group = instances.slice(start, start + step);
    for (const instance of group) if (instance.serving) actions.push({ kind: 'drain', host: instance.host });
    for (const instance of group) actions.push({ kind: 'install', host: instance.host, release: 'new' });
    for (const instance of group) {
      if (instance.serving) actions.push({ kind: 'serve', host: instance.host, weight: FULL_WEIGHT });
    }
  }
  return { actions, finalHosts: hosts };
}

function blueGreen(
  instances: readonly PlannedInstance[],
  strategy: Extract<DeployStrategyModel, { strategy: 'blue-green' }>,
): RolloutPlan {
  const actions: RolloutAction[] = [];
  const blue = instances.map((i) => i.host);
  const green = nextHostNames(blue, blue[0] ?? 'web-1', blue.length);
  for (const [i, name] of green.entries()) actions.push({ kind: 'create-host', host: name, like: blue[i]! });
  for (const name of green) actions.push({ kind: 'wait-healthy', host: name });
  // Green joins with weight 0 (checked, no traffic); then one switch moves all traffic.
  for (const name of green) actions.push({ kind: 'serve', host: name, weight: 0 });
  const switched: Record<string, number> = {};
  for (const name of green) switched[name] = FULL_WEIGHT;
  for (const name of blue) switched[name] = 0;
  actions.push({ kind: 'weights', weights: switched });
  actions.push({ kind: 'hold', ms: strategy.keepOldMs });
  for (const instance of instances) {
    if (instance.serving) actions.push({ kind: 'drain', host: instance.host });
    actions.push({ kind: 'delete-host', host: instance.host });
  }
  return { actions, finalHosts: green };
}

function canary(
  instances: readonly PlannedInstance[],
  strategy: Extract<DeployStrategyModel, { strategy: 'canary' }>,
): RolloutPlan {
  const actions: RolloutAction[] = [];
  const old = instances.map((i) => i.host);
  const [canaryHost] = nextHostNames(old, old[0] ?? 'web-1', 1) as [string];
  actions.push({ kind: 'create-host', host: canaryHost, like: old[0] ?? 'web-1' });
  actions.push({ kind: 'wait-healthy', host: canaryHost });
  actions.push({ kind: 'serve', host: canaryHost, weight: 0 });
  const steps = [...new Set(strategy.steps)].sort((a, b) => a - b);
  for (const percent of steps) {
    const { canary: canaryWeight, old: oldWeight } = canaryWeights(percent, old.length);
    const weights: Record<string, number> = { [canaryHost]: canaryWeight };
    for (const host of old) weights[host] = oldWeight;
    actions.push({ kind: 'weights', weights });
    if (percent < 100)
      actions.push({ kind: 'gate', host: canaryHost, trafficPercent: percent, pauseMs: strategy.pauseMs });
  }
  if (steps.at(-1) !== 100) {
    const all: Record<string, number> = { [canaryHost]: 256 };
    for (const host of old) all[host] = 0;
    actions.push({ kind: 'weights', weights: all });
  }
  // The canary passed every gate and carries all traffic; the old hosts carry none, so they upgrade
  // in place and rejoin, and one of them goes so the environment keeps its size.
  const [retired, ...kept] = [...old].reverse();
  for (const host of kept.reverse()) {
    actions.push({ kind: 'drain', host });
    actions.push({ kind: 'install', host, release: 'new' });
    actions.push({ kind: 'serve', host, weight: FULL_WEIGHT });
  }
  const balanced: Record<string, number> = { [canaryHost]: FULL_WEIGHT };
  for (const host of kept) balanced[host] = FULL_WEIGHT;
  if (retired) balanced[retired] = 0;
  actions.push({ kind: 'weights', weights: balanced });
  if (retired) {
    actions.push({ kind: 'drain', host: retired });
    actions.push({ kind: 'delete-host', host: retired });
  }
  return { actions, finalHosts: [canaryHost, ...kept] };
}

/** Where the predeploy hook goes: on the first host running the new release, before it serves. */
function withHooks(actions: RolloutAction[], finalHosts: readonly string[]): RolloutAction[] {
  const firstNew = actions.findIndex(
    (a) => a.kind === 'wait-healthy' || (a.kind === 'install' && a.release === 'new'),
  );
  if (firstNew < 0) return actions;
  const host = (actions[firstNew] as { host: string }).host;
  const result = [...actions];
  result.splice(firstNew + 1, 0, { kind: 'hook', hook: 'predeploy', host });
  if (finalHosts[0]) result.push({ kind: 'hook', hook: 'postdeploy', host: finalHosts[0] });
  return result;
}

/**
 * Plans a rollout of the new release over `instances` with `strategy`. Hosts that serve no traffic
 * (workers, schedulers) roll in place one at a time: their processes stop gracefully (a worker
 * finishes its job), the new release installs, they start again.
 */
export function planRollout(
  instances: readonly PlannedInstance[],
  strategy: DeployStrategyModel,
): RolloutPlan {
  const serving = instances.filter((i) => i.serving);
  const background = instances.filter((i) => !i.serving);
  const web =
    serving.length === 0
      ? { actions: [], finalHosts: [] }
      : strategy.strategy === 'rolling'
        ? rolling(serving, strategy)
        : strategy.strategy === 'blue-green'
          ? blueGreen(serving, strategy)
          : canary(serving, strategy);
  const workers: RolloutAction[] = background.map((i) => ({ kind: 'install', host: i.host, release: 'new' }));
  const finalHosts = [...web.finalHosts, ...background.map((i) => i.host)];
  return { actions: withHooks([...web.actions, ...workers], finalHosts), finalHosts };
}

/**
 * The actions that undo a rollout stopped after its first `done` actions: the original hosts serve
 * the old release again at full weight (re-created when the rollout had already removed them), and
 * every host the rollout created is drained and removed. Capacity comes back before anything goes.
 */
export function planRollback(
  instances: readonly PlannedInstance[],
  plan: RolloutPlan,
  done: number,
): RolloutAction[] {
  const executed = plan.actions.slice(0, done);
  const original = new Set(instances.map((i) => i.host));
  const created = new Set<string>();
  const upgraded = new Set<string>();
  const deleted = new Set<string>();
  for (const action of executed) {
    if (action.kind === 'create-host') created.add(action.host);
    if (action.kind === 'install' && action.release === 'new') upgraded.add(action.host);
    if (action.kind === 'delete-host') deleted.add(action.host);
  }
  // The host being installed when the rollout stopped may be half-way: treat it as upgraded.
  const stoppedAt = plan.actions[done];
  if (stoppedAt?.kind === 'install' && stoppedAt.release === 'new') upgraded.add(stoppedAt.host);
  if (stoppedAt?.kind === 'create-host') created.add(stoppedAt.host);

  const actions: RolloutAction[] = [];
  const restored: Record<string, number> = {};
  for (const instance of instances) {
    const host = instance.host;
    if (deleted.has(host)) {
      actions.push({ kind: 'create-host', host, like: host, release: 'old' });
      actions.push({ kind: 'wait-healthy', host });
      if (instance.serving) actions.push({ kind: 'serve', host, weight: 100 });
    } else if (upgraded.has(host)) {
      if (instance.serving) actions.push({ kind: 'drain', host });
      actions.push({ kind: 'install', host, release: 'old' });
      if (instance.serving) actions.push({ kind: 'serve', host, weight: 100 });
    } else if (instance.serving) {
      restored[host] = 100;
    }
  }
  if (Object.keys(restored).length > 0) actions.push({ kind: 'weights', weights: restored });
  // Drain and delete are idempotent: a host whose creation was cut short may not exist at all.
  const newHosts = [...created].filter((h) => !original.has(h) && !deleted.has(h));
  for (const host of newHosts) {
    actions.push({ kind: 'drain', host });
    actions.push({ kind: 'delete-host', host });
  }
  return actions;
}
