/**
 * The environments module's background work, on the control plane that holds each loop's lock:
 * evaluating requested plans, checking the tracked repository (GitOps), running applies, and keeping
 * environments up (restart dead agents, HAProxy, PostgreSQL) while recording what the provider sees.
 */
import { join, resolve } from 'node:path';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Clock, Logger } from '../core/index.ts';
import { type SingletonLoop, startSingletonLoop } from '../jobs/index.ts';
import { type EnvironmentProvider, LocalProvider, planOnlyProvider } from '../providers/index.ts';
import { pendingApplies, runApply } from './applies.ts';
import { evaluateSourceHead } from './evaluate-source.ts';
import { checkSource } from './gitops.ts';
import { wakeAllHostWaiters } from './host-signals.ts';
import { appendHostEvent, findHost, issueJoinToken, listHosts } from './hosts.ts';
import { completePlan, evaluatingPlans, PlanStatus } from './plans.ts';
import { EnvironmentRollout, type RolloutTargetOptions } from './rollout-target.ts';
import type { EnvironmentsTables } from './schema.ts';

type Db = Kysely<EnvironmentsTables>;

/** What the background work needs from the server. */
export interface EnvironmentServicesContext {
  readonly store: { readonly db: Kysely<any>; readonly pool: pg.Pool };
  readonly logger: Logger;
  readonly clock: Clock;
  /** The control plane's URL as agents on this machine reach it. */
  readonly url: string;
  /** Slipway's data directory: the local provider's root and the repository mirror go under it. */
  readonly dataDir: string;
}

/** The running background work. */
export interface EnvironmentServices {
  /** A rollout's view of one environment's hosts and balancer, for the Deployments module. */
  rollout(
    options: Omit<RolloutTargetOptions, 'db' | 'clock' | 'provider' | 'context'>,
  ): Promise<EnvironmentRollout>;
  /** The control plane's URL as this environment's hosts reach it (for the APT channel). */
  readonly url: string;
  stop(): Promise<void>;
}

/** Where the local provider keeps environments: SLIPWAY_LOCAL_ROOT, else `<data dir>/local`. */
export function localRoot(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.SLIPWAY_LOCAL_ROOT || join(dataDir, 'local'));
}

/** Starts the loops; `stop()` interrupts applies between steps (they resume on the next start). */
export async function startEnvironmentServices(
  context: EnvironmentServicesContext,
): Promise<EnvironmentServices> {
  const db = context.store.db as Db;
  const dataDir = resolve(context.dataDir);
  const mirrorDirectory = join(dataDir, 'environments', 'source.git');
  const local = new LocalProvider({ root: localRoot(dataDir), controlPlaneUrl: context.url });
  const providers = new Map<string, EnvironmentProvider>([
    ['local', local],
    ['aws', planOnlyProvider('aws')],
    ['gcp', planOnlyProvider('gcp')],
  ]);
  const provider = (kind: string) => providers.get(kind);
  const abort = new AbortController();
  const running = new Map<string, Promise<unknown>>();
  const log = context.logger.child({ module: 'environments' });

  const observe = async (environment: string): Promise<void> => {
    const envRow = await db
      .selectFrom('environments')
      .select(['provider', 'status'])
      .where('name', '=', environment)
      .executeTakeFirst();
    const chosen = provider(envRow?.provider ?? 'local');
    if (!chosen || envRow?.status === 'destroying' || envRow?.status === 'destroyed') return;
    const resources = await db
      .selectFrom('environment_resources')
      .select(['resource', 'kind', 'status', 'outputs'])
      .where('environment', '=', environment)
      .execute();
    const ready = resources.filter((r) => r.status === 'ready');
    const providerContext = {
      db: context.store.db,
      environment,
      log: (line: string) => log.info({ environment }, line),
    };
    // Hosts by their own names: the slot's host (a rollout may have replaced it under another name),
    // and the hosts a running rollout added that have joined.
    const records = await listHosts(db, environment);
    const slotted = new Map(records.filter((h) => h.slot !== null).map((h) => [h.slot!, h]));
    const hostNames = new Map<string, string>(); // resource id → host name
    for (const r of resources.filter((x) => x.kind === 'host')) {
      const slot = r.resource.slice('host/'.length);
      hostNames.set(r.resource, slotted.get(slot)?.name ?? slot);
    }
    const standby = records.filter((h) => h.slot === null && h.joined_at !== null);
    const hostRequests = [];
    const supervised = [
      ...ready
        .filter((x) => x.kind === 'host')
        .map((r) => ({
          name: hostNames.get(r.resource)!,
          hostId:
            slotted.get(r.resource.slice('host/'.length))?.id ?? (r.outputs as { hostId?: string }).hostId,
        })),
      ...standby.map((h) => ({ name: h.name, hostId: h.id })),
    ];
    for (const { name, hostId } of supervised) {
      if (!hostId) continue;
      hostRequests.push({
        id: hostId,
        name,
        services: [],
        zone: null,
        size: { name: 'unknown', vcpus: 0, memoryMiB: 0 },
        issueJoinToken: () => issueJoinToken(db, hostId, context.clock.now()),
      });
    }
    const events = await chosen.supervise(providerContext, {
      hosts: hostRequests,
      loadBalancer: ready.some((r) => r.kind === 'load-balancer'),
      database: ready.some((r) => r.kind === 'database'),
    });
    for (const event of events) {
      log.warn({ environment, host: event.host, kind: event.kind }, event.message);
      const host = event.host ? await findHost(db, environment, event.host) : undefined;
      if (host)
        await appendHostEvent(db, host.id, {
          at: context.clock.now().toISOString(),
          kind: event.kind,
          message: event.message,
        });
      // The dead agent's last report says nothing any more: the host is unhealthy until the new one reports.
      if (host && event.kind === 'agent-restarted') {
        await db
          .updateTable('environment_hosts')
          .set({ report: null, reported_at: null, applied_revision: null })
          .where('id', '=', host.id)
          .execute();
      }
    }
    const observation = await chosen.observe(providerContext, [
      ...resources.filter((r) => r.kind === 'host').map((r) => hostNames.get(r.resource)!),
      ...standby.map((h) => h.name),
    ]);
    const now = context.clock.now();
    for (const r of resources) {
      const observed =
        r.kind === 'host'
          ? observation.hosts[hostNames.get(r.resource)!]
          : r.kind === 'load-balancer'
            ? observation.loadBalancer
            : r.kind === 'database'
              ? observation.database
              : undefined;
      if (observed === undefined) continue;
      await db
        .updateTable('environment_resources')
        .set({ observed: JSON.stringify(observed), observed_at: now })
        .where('environment', '=', environment)
        .where('resource', '=', r.resource)
        .execute();
    }
  };

  const evaluatePlans = async () => {
    for (const plan of await evaluatingPlans(db)) {
      if (abort.signal.aborted) return;
      if (plan.kind === 'destroy') {
        await completePlan(db, plan.id, { kind: 'destroy', status: PlanStatus.Planned });
        continue;
      }
      const waiting = await db
        .selectFrom('environment_applies')
        .select('id')
        .where('plan_id', '=', plan.id)
        .executeTakeFirst();
      try {
        const evaluation = await evaluateSourceHead(context.store.db, mirrorDirectory);
        if (evaluation.problems.length > 0) {
          await completePlan(db, plan.id, {
            kind: 'invalid',
            problems: evaluation.problems,
            commit: evaluation.commit,
            source: evaluation.source,
          });
          continue;
        }
        const defined = evaluation.validation.environments.find((e) => e.model.name === plan.environment);
        if (!defined) {
          const names = evaluation.validation.environments.map((e) => e.model.name);
          await completePlan(db, plan.id, {
            kind: 'invalid',
            problems: [],
            error: `the repository at ${evaluation.commit.slice(0, 12)} does not define "${plan.environment}"${names.length ? ` (it defines ${names.join(', ')})` : ''}: add environments/${plan.environment}.ts`,
            commit: evaluation.commit,
            source: evaluation.source,
          });
          continue;
        }
        await completePlan(db, plan.id, {
          kind: 'apply',
          model: defined.model,
          file: defined.file,
          commit: evaluation.commit,
          source: evaluation.source,
          status: waiting ? PlanStatus.Queued : PlanStatus.Planned,
        });
      } catch (error) {
        await completePlan(db, plan.id, {
          kind: 'invalid',
          problems: [],
          error: (error as Error).message,
          commit: null,
          source: null,
        });
      }
    }
  };

  const startApplies = async () => {
    for (const apply of await pendingApplies(db)) {
      if (abort.signal.aborted || running.has(apply.environment)) continue;
      const job = runApply(
        { db: context.store.db, clock: context.clock, provider, observe, signal: abort.signal },
        apply.id,
      )
        .then((result) => {
          if (result.status === 'succeeded' || result.status === 'failed') {
            log.info(
              { environment: apply.environment, apply: apply.id, status: result.status, error: result.error },
              'apply finished',
            );
          }
        })
        .catch((error) => log.error({ err: error, apply: apply.id }, 'apply crashed'))
        .finally(() => running.delete(apply.environment));
      running.set(apply.environment, job);
    }
  };

  const loops: SingletonLoop[] = [
    startSingletonLoop(context.store.pool, {
      name: 'environments-work',
      intervalMs: 300,
      retryMs: 2000,
      logger: log,
      run: async () => {
        await evaluatePlans();
        await checkSource({ db: context.store.db, clock: context.clock, mirrorDirectory });
        await startApplies();
      },
    }),
    startSingletonLoop(context.store.pool, {
      name: 'environments-observe',
      intervalMs: 1000,
      retryMs: 2000,
      logger: log,
      run: async () => {
        const environments = await db
          .selectFrom('environment_resources')
          .select('environment')
          .distinct()
          .execute();
        for (const { environment } of environments) {
          if (abort.signal.aborted) return;
          await observe(environment).catch((error) =>
            log.warn({ err: error, environment }, 'cannot observe the environment'),
          );
        }
      },
    }),
  ];

  return {
    url: context.url,
    async rollout(options) {
      const envRow = await db
        .selectFrom('environments')
        .select(['provider'])
        .where('name', '=', options.environment)
        .executeTakeFirst();
      const chosen = provider(envRow?.provider ?? 'local');
      if (!chosen) throw new Error(`no provider "${envRow?.provider}" for ${options.environment}`);
      return new EnvironmentRollout({
        ...options,
        db: context.store.db,
        clock: context.clock,
        provider: chosen,
        context: {
          db: context.store.db,
          environment: options.environment,
          log: (line: string) => log.info({ environment: options.environment }, line),
        },
      });
    },
    async stop() {
      abort.abort();
      wakeAllHostWaiters();
      await Promise.all(loops.map((loop) => loop.stop()));
      await Promise.all([...running.values()]);
    },
  };
}
