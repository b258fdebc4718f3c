import type { Kysely, Selectable } from 'kysely';
import type { Clock, Logger } from '../core/index.ts';
import { RolloutActionError } from './errors.ts';
import { planRollback, planRollout, type RolloutAction } from './plan.ts';
import type { DeploymentState, DeploymentsTables } from './schema.ts';
import type { ReleaseRef, RolloutTarget } from './target.ts';

type Db = Kysely<DeploymentsTables>;
type DeploymentRow = Selectable<DeploymentsTables['deployments']>;

/** What running a deployment needs. */
export interface RunnerDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** The environment's hosts and load balancer. */
  readonly target: RolloutTarget;
}

/** How an action reads in the event log. */
export function describeAction(action: RolloutAction): string {
  switch (action.kind) {
    case 'hook':
      return `run the ${action.hook} hook on ${action.host}`;
    case 'create-host':
      return `create ${action.host} (like ${action.like})${action.release === 'old' ? ' on the previous release' : ''}`;
    case 'install':
      return `install the ${action.release === 'new' ? 'new' : 'previous'} release on ${action.host}`;
    case 'wait-healthy':
      return `wait until ${action.host} is healthy`;
    case 'serve':
      return `put ${action.host} in the load balancer with weight ${action.weight}`;
    case 'weights':
      return `set weights ${Object.entries(action.weights)
        .map(([h, w]) => `${h}=${w}`)
        .join(', ')}`;
    case 'drain':
      return `drain ${action.host}`;
    case 'delete-host':
      return `remove ${action.host}`;
    case 'gate':
      return `hold ${action.trafficPercent}% on the canary ${action.host} for ${Math.round(action.pauseMs / 1000)} s, then check its errors and latency`;
    case 'hold':
      return `keep the previous hosts for ${Math.round(action.ms / 1000)} s`;
  }
}

/** Appends a line to a deployment's event log. */
export async function addEvent(
  db: Db,
  deploymentId: string,
  level: 'info' | 'warn' | 'error',
  message: string,
): Promise<void> {
  await db.insertInto('deployment_events').values({ deployment_id: deploymentId, level, message }).execute();
}

async function setState(
  db: Db,
  id: string,
  state: DeploymentState,
  extra: Partial<DeploymentRow> = {},
): Promise<void> {
  await db
    .updateTable('deployments')
    .set({ state, ...(extra as object) })
    .where('id', '=', id)
    .execute();
}

function stateFor(action: RolloutAction): DeploymentState {
  if (action.kind === 'hook') return action.hook === 'predeploy' ? 'predeploy' : 'postdeploy';
  return 'rolling';
}

function abortable(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    void clock.sleep(ms).then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

async function execute(
  deps: RunnerDeps,
  row: DeploymentRow,
  action: RolloutAction,
  signal: AbortSignal,
): Promise<void> {
  const release = (which: 'new' | 'old' | undefined): ReleaseRef =>
    which === 'old' ? row.previous_release_id : row.release_id;
  const { target } = deps;
  switch (action.kind) {
    case 'hook':
      return target.runHook(action.host, action.hook, row.release_id, signal);
    case 'create-host':
      return target.createHost(action.host, action.like, release(action.release ?? 'new'), signal);
    case 'install':
      return target.install(action.host, release(action.release), signal);
    case 'wait-healthy':
      return target.waitHealthy(action.host, signal);
    case 'serve':
      return target.serve(action.host, action.weight, signal);
    case 'weights':
      return target.setWeights(action.weights, signal);
    case 'drain':
      return target.drain(action.host, signal);
    case 'delete-host':
      return target.deleteHost(action.host, signal);
    case 'hold':
      return abortable(deps.clock, action.ms, signal);
    case 'gate': {
      const before = await target.counters(action.host);
      await abortable(deps.clock, action.pauseMs, signal);
      const after = await target.counters(action.host);
      const requests = after.requests - before.requests;
      const errors = after.errors5xx - before.errors5xx;
      if (row.strategy.strategy !== 'canary') return;
      const { maxErrorRatePercent, maxLatencyMs } = row.strategy;
      if (requests === 0) {
        await addEvent(
          deps.db,
          row.id,
          'warn',
          `the canary ${action.host} got no requests during the step: nothing to judge`,
        );
        return;
      }
      const rate = (100 * errors) / requests;
      await addEvent(
        deps.db,
        row.id,
        'info',
        `canary ${action.host}: ${requests} requests, ${errors} 5xx (${rate.toFixed(2)}%), average ${after.averageResponseMs} ms`,
      );
      if (rate > maxErrorRatePercent) {
        throw new RolloutActionError(
          `The canary failed its gate: ${rate.toFixed(2)}% of its ${requests} requests were 5xx (limit ${maxErrorRatePercent}%)`,
        );
      }
      if (after.averageResponseMs > maxLatencyMs) {
        throw new RolloutActionError(
          `The canary failed its gate: average response time ${after.averageResponseMs} ms (limit ${maxLatencyMs} ms)`,
        );
      }
      return;
    }
  }
}

/**
 * Runs actions from `start`, recording each one done; returns when all are done.
 *
 * With `background`, removing a host (already drained and out of the balancer) goes on beside the
 * next actions instead of holding them up: tearing an old host down (its processes stopping
 * gracefully, its directory removed) is most of a rollout's overhead. Every removal has ended before
 * this returns or throws. A control plane stopped meanwhile removes those hosts again when it resumes
 * (`removeAgain`): removing is idempotent.
 */
async function runActions(
  deps: RunnerDeps,
  row: DeploymentRow,
  actions: readonly RolloutAction[],
  start: number,
  progressColumn: 'next_action' | 'rollback_next',
  signal: AbortSignal,
  options: { onAction?: (action: RolloutAction) => Promise<void>; background?: boolean } = {},
): Promise<void> {
  const removals: Promise<void>[] = [];
  let removalFailed: unknown;
  try {
    for (let index = start; index < actions.length; index++) {
      if (signal.aborted) throw signal.reason;
      if (removalFailed !== undefined) throw removalFailed;
      const action = actions[index]!;
      await options.onAction?.(action);
      await addEvent(deps.db, row.id, 'info', `${index + 1}/${actions.length}: ${describeAction(action)}`);
      if (options.background && action.kind === 'delete-host') {
        removals.push(
          execute(deps, row, action, signal).then(
            () => addEvent(deps.db, row.id, 'info', `removed ${action.host}`),
            (error) => {
              removalFailed ??= new Error(`removing ${action.host} failed: ${errorText(error)}`);
            },
          ),
        );
      } else {
        await execute(deps, row, action, signal);
      }
      // Recorded once done (or, for a removal, started): a control plane stopped during the action
      // repeats it; every action is idempotent.
      await deps.db
        .updateTable('deployments')
        .set({ [progressColumn]: index + 1, heartbeat_at: deps.clock.now() } as never)
        .where('id', '=', row.id)
        .execute();
    }
  } finally {
    await Promise.allSettled(removals);
  }
  if (removalFailed !== undefined) throw removalFailed;
}

/** Removes again the hosts a resumed deployment had started removing (a no-op for those gone). */
async function removeAgain(deps: RunnerDeps, row: DeploymentRow, signal: AbortSignal): Promise<void> {
  for (const action of row.plan.slice(0, row.next_action)) {
    if (action.kind === 'delete-host') await execute(deps, row, action, signal);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs (or resumes) one deployment to its end: plans it on first start from the hosts the
 * environment runs, executes each action, verifies, and records the environment's new release. A
 * failure rolls back to the previous release. When `signal` aborts (the control plane stops), it
 * returns with the deployment still active, to be resumed where it was.
 */
export async function runDeployment(
  deps: RunnerDeps,
  deploymentId: string,
  signal: AbortSignal,
): Promise<DeploymentState> {
  const { db, target } = deps;
  let row = await db
    .selectFrom('deployments')
    .selectAll()
    .where('id', '=', deploymentId)
    .executeTakeFirstOrThrow();
  try {
    if (row.state === 'pending') {
      const instances = await target.instances();
      const plan = planRollout(instances, row.strategy);
      await setState(db, row.id, plan.actions[0] ? stateFor(plan.actions[0]) : 'verifying', {
        instances: JSON.stringify(instances) as never,
        plan: JSON.stringify(plan.actions) as never,
        started_at: deps.clock.now(),
        heartbeat_at: deps.clock.now(),
      });
      await addEvent(
        db,
        row.id,
        'info',
        `planned a ${row.strategy.strategy} rollout over ${instances.map((i) => i.host).join(', ') || 'no hosts'}: ${plan.actions.length} steps`,
      );
      row = await db
        .selectFrom('deployments')
        .selectAll()
        .where('id', '=', deploymentId)
        .executeTakeFirstOrThrow();
    } else if (row.state !== 'rolling_back') {
      await addEvent(
        db,
        row.id,
        'warn',
        `resuming at step ${row.next_action + 1} after a control-plane restart`,
      );
    }
    if (row.state !== 'rolling_back') {
      if (row.next_action > 0) await removeAgain(deps, row, signal);
      await runActions(deps, row, row.plan, row.next_action, 'next_action', signal, {
        background: true,
        onAction: async (action) => {
          const state = stateFor(action);
          if (state !== row.state) {
            await setState(db, row.id, state);
            row = { ...row, state };
          }
        },
      });
      await setState(db, row.id, 'verifying');
      const finalHosts = finalHostsOf(row);
      for (const host of finalHosts) await target.waitHealthy(host, signal);
      await target.adopt(finalHosts, row.release_id);
      await db
        .insertInto('environment_releases')
        .values({
          environment: row.environment,
          app: row.app,
          release_id: row.release_id,
          deployment_id: row.id,
        })
        .onConflict((oc) =>
          oc
            .columns(['environment', 'app'])
            .doUpdateSet({ release_id: row.release_id, deployment_id: row.id, updated_at: deps.clock.now() }),
        )
        .execute();
      await setState(db, row.id, 'succeeded', { finished_at: deps.clock.now() });
      await addEvent(
        db,
        row.id,
        'info',
        'succeeded: every host runs the new release and passes its health checks',
      );
      return 'succeeded';
    }
  } catch (error) {
    if (signal.aborted) return row.state; // stopping: resume later where it was
    const reason = errorText(error);
    deps.logger?.warn({ deployment: row.id, reason }, 'deployment failed; rolling back');
    await addEvent(db, row.id, 'error', `failed: ${reason}`);
    const fresh = await db
      .selectFrom('deployments')
      .selectAll()
      .where('id', '=', deploymentId)
      .executeTakeFirstOrThrow();
    const rollback = planRollback(
      fresh.instances,
      { actions: fresh.plan, finalHosts: [] },
      fresh.next_action,
    );
    await setState(db, row.id, 'failed', { reason });
    await setState(db, row.id, 'rolling_back', {
      rollback_plan: JSON.stringify(rollback) as never,
      rollback_next: 0,
    });
    row = { ...fresh, state: 'rolling_back', rollback_plan: rollback, rollback_next: 0, reason };
  }
  // Rolling back: from a failure just now, or resumed after a restart.
  try {
    await addEvent(db, row.id, 'info', `rolling back: ${row.rollback_plan?.length ?? 0} steps`);
    await runActions(deps, row, row.rollback_plan ?? [], row.rollback_next, 'rollback_next', signal);
    const original = row.instances.map((i) => i.host);
    for (const host of original) await target.waitHealthy(host, signal);
    await target.adopt(original, row.previous_release_id);
    await setState(db, row.id, 'rolled_back', { finished_at: deps.clock.now() });
    await addEvent(db, row.id, 'info', 'rolled back: the previous release serves on the original hosts');
    return 'rolled_back';
  } catch (error) {
    if (signal.aborted) return 'rolling_back';
    const reason = `${row.reason ?? 'failed'}; the rollback failed too: ${errorText(error)}`;
    await setState(db, row.id, 'failed', { reason, finished_at: deps.clock.now() });
    await addEvent(
      db,
      row.id,
      'error',
      `${reason}. Check the hosts (\`slipway env show ${row.environment}\`)`,
    );
    return 'failed';
  }
}

/** The hosts a finished rollout leaves, from its recorded plan. */
function finalHostsOf(row: DeploymentRow): string[] {
  const hosts = new Set(row.instances.map((i) => i.host));
  for (const action of row.plan) {
    if (action.kind === 'create-host') hosts.add(action.host);
    if (action.kind === 'delete-host') hosts.delete(action.host);
  }
  return [...hosts].sort();
}
