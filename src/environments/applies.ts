/**
 * Applies: a queued apply runs its plan's definition against the provider, resource by resource,
 * recording each resource before and after each step, so a control plane killed half-way converges
 * on the next run without duplicates (hosts have stable names; ports and directories are reused).
 * It ends when every host, the load balancer and the database are healthy, or after a timeout.
 */
import { type Kysely, sql } from 'kysely';
import { appendAudit } from '../audit/index.ts';
import { type Clock, environmentScope, newId, type Role } from '../core/index.ts';
import { grantRole, parseSubject, revokeRole } from '../identity/index.ts';
import type { DatabaseOutputs, EnvironmentProvider, ProviderContext } from '../providers/index.ts';
import { hashOf } from './canonical.ts';
import {
  type DocumentContext,
  type HostDocument,
  type StoredProcess,
  serviceProcess,
} from './host-documents.ts';
import {
  deleteHostRecord,
  ensureHostRecord,
  findHost,
  findHostBySlot,
  issueJoinToken,
  listHosts,
  updateHostDocument,
} from './hosts.ts';
import type { EnvironmentModel } from './model.ts';
import { PlanStatus, recordedResources, setPlanStatus } from './plans.ts';
import { type DesiredResource, desiredResources, diffResources, plannedHosts } from './resources.ts';
import type { Apply, ApplyStep, EnvironmentsTables } from './schema.ts';
import { environmentView, toApply } from './status.ts';

type Db = Kysely<EnvironmentsTables>;

/** What running applies needs. */
export interface ApplyDeps {
  readonly db: Kysely<any>;
  readonly clock: Clock;
  /** The provider an environment's definition names. */
  readonly provider: (kind: string) => EnvironmentProvider | undefined;
  /** Updates the provider's observations of an environment (the status then reflects them). */
  readonly observe: (environment: string) => Promise<void>;
  /** How long an apply waits for everything to be healthy. @default 180 s */
  readonly healthTimeoutMs?: number;
  /** How many hosts are created at once. @default 8 */
  readonly hostConcurrency?: number;
  /** Aborted when the control plane stops: the apply stops between steps and resumes on the next start. */
  readonly signal?: AbortSignal;
}

/** The control plane is stopping: the apply stays "running" and resumes on the next start. */
export class ApplyInterruptedError extends Error {
  constructor() {
    super('the control plane is stopping; the apply resumes when it starts again');
    this.name = 'ApplyInterruptedError';
  }
}

/** Queues an apply of a plan; the worker runs it. */
export async function queueApply(
  db: Db,
  plan: { id: string; environment: string; commit: string | null },
  requestedBy: string,
): Promise<Apply> {
  const row = await db
    .insertInto('environment_applies')
    .values({
      id: newId(),
      environment: plan.environment,
      plan_id: plan.id,
      requested_by: requestedBy,
      status: 'queued',
      commit: plan.commit,
      steps: JSON.stringify([]),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  // A plan still being evaluated becomes "queued" when its evaluation ends (the worker sees the apply).
  await db
    .updateTable('environment_plans')
    .set({ status: PlanStatus.Queued })
    .where('id', '=', plan.id)
    .where('status', '!=', PlanStatus.Evaluating)
    .execute();
  await db
    .updateTable('environment_plans')
    .set({ decided_by: requestedBy, decided_at: new Date() })
    .where('id', '=', plan.id)
    .execute();
  return toApply(row);
}

/** An apply of an environment. */
export async function findApply(db: Db, environment: string, id: string): Promise<Apply | undefined> {
  const row = await db
    .selectFrom('environment_applies')
    .selectAll()
    .where('environment', '=', environment)
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? toApply(row) : undefined;
}

/** An environment's applies (its apply history), newest first. */
export async function listApplies(db: Db, environment: string, limit = 20): Promise<Apply[]> {
  const rows = await db
    .selectFrom('environment_applies')
    .selectAll()
    .where('environment', '=', environment)
    .orderBy('requested_at', 'desc')
    .limit(limit)
    .execute();
  return rows.map(toApply);
}

/** Applies that are queued or were running when the control plane stopped, oldest first. */
export async function pendingApplies(db: Db): Promise<Apply[]> {
  const rows = await db
    .selectFrom('environment_applies')
    .selectAll()
    .where('status', 'in', ['queued', 'running'])
    .orderBy('requested_at')
    .execute();
  return rows.map(toApply);
}

class StepLog {
  constructor(
    readonly db: Db,
    readonly applyId: string,
    readonly clock: Clock,
    readonly signal?: AbortSignal,
  ) {}

  async #append(step: ApplyStep): Promise<void> {
    // One statement, so concurrent steps (hosts made in parallel) never overwrite each other.
    await sql`UPDATE environment_applies SET steps = steps || ${JSON.stringify([step])}::jsonb WHERE id = ${this.applyId}`.execute(
      this.db,
    );
  }

  note(resource: string, action: string, status: ApplyStep['status'], message: string): Promise<void> {
    return this.#append({ at: this.clock.now().toISOString(), resource, action, status, message });
  }

  /** Runs one step, noted before and after. */
  async run<T>(resource: string, action: string, message: string, work: () => Promise<T>): Promise<T> {
    if (this.signal?.aborted) throw new ApplyInterruptedError();
    await this.note(resource, action, 'running', message);
    try {
      const value = await work();
      await this.note(resource, action, 'done', message);
      return value;
    } catch (error) {
      await this.note(resource, action, 'failed', `${message}: ${(error as Error).message}`);
      throw error;
    }
  }
}

async function recordResource(
  db: Db,
  environment: string,
  resource: DesiredResource,
  status: string,
  outputs?: unknown,
  sensitive?: unknown,
): Promise<void> {
  const values = {
    environment,
    resource: resource.id,
    kind: resource.kind,
    spec: JSON.stringify(resource.spec),
    spec_hash: hashOf(resource.spec),
    status,
    ...(outputs !== undefined ? { outputs: JSON.stringify(outputs) } : {}),
    ...(sensitive !== undefined ? { sensitive: JSON.stringify(sensitive) } : {}),
  };
  await db
    .insertInto('environment_resources')
    .values(values)
    .onConflict((oc) =>
      oc.columns(['environment', 'resource']).doUpdateSet({ ...values, updated_at: new Date() }),
    )
    .execute();
}

async function resourceRow(db: Db, environment: string, id: string) {
  return db
    .selectFrom('environment_resources')
    .selectAll()
    .where('environment', '=', environment)
    .where('resource', '=', id)
    .executeTakeFirst();
}

/** Runs `work` over `items`, at most `limit` at a time; the first failure is thrown after all end. */
async function inBatches<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item).catch((error) => {
        failure ??= error;
      });
    }
  });
  await Promise.all(lanes);
  if (failure) throw failure;
}

/**
 * The processes the definition's services run on a host (services with their own command), with the
 * ports the provider gives that host. Rollouts build the documents of the hosts they add the same way.
 */
export async function serviceProcesses(
  provider: EnvironmentProvider,
  context: ProviderContext,
  model: EnvironmentModel,
  services: readonly string[],
  hostName: string,
  database: DocumentContext['database'],
): Promise<{ processes: StoredProcess[]; ports: Record<string, number> }> {
  const ports: Record<string, number> = {};
  for (const name of services) {
    const service = model.services.find((s) => s.name === name)!;
    if (service.port !== null)
      ports[name] = (await provider.instanceAddress(context, hostName, name, service.port)).port;
  }
  const processes = services
    .map((name) =>
      serviceProcess(model, model.services.find((s) => s.name === name)!, hostName, { ports, database }),
    )
    .filter((p): p is StoredProcess => p !== undefined);
  return { processes, ports };
}

/** Brings one environment to a model: the steps of an apply, in creation order. */
async function converge(
  deps: ApplyDeps,
  provider: EnvironmentProvider,
  model: EnvironmentModel,
  steps: StepLog,
): Promise<void> {
  const db = deps.db as Db;
  const environment = model.name;
  const context: ProviderContext = {
    db: deps.db,
    environment,
    log: (line) => void steps.note(environment, 'log', 'done', line),
  };
  const desired = desiredResources(model);
  const changes = diffResources(desired, await recordedResources(db, environment));
  const changed = new Set(changes.filter((c) => c.action !== 'delete').map((c) => c.resource));

  // 1. The database first: its address and passwords go into every host's document.
  let database: DocumentContext['database'] = null;
  const dbResource = desired.find((r) => r.kind === 'database');
  if (dbResource && model.database) {
    const spec = model.database;
    const existing = await resourceRow(db, environment, dbResource.id);
    if (changed.has(dbResource.id) || !existing) {
      await recordResource(db, environment, dbResource, existing ? 'updating' : 'creating');
      const result = await steps.run(
        dbResource.id,
        existing ? 'update' : 'create',
        `PostgreSQL ${spec.version} with ${spec.databases.map((d) => d.name).join(', ')}`,
        () =>
          provider.ensureDatabase(
            context,
            { name: spec.name, version: spec.version, databases: spec.databases, roles: spec.roles },
            (existing?.sensitive as DatabaseOutputs['sensitive'] | undefined)?.superuserPassword
              ? (existing!.sensitive as DatabaseOutputs['sensitive'])
              : undefined,
          ),
      );
      await recordResource(db, environment, dbResource, 'ready', result.outputs, result.sensitive);
      database = result.outputs;
    } else {
      database = existing.outputs as DocumentContext['database'];
    }
  }

  // 2. Hosts, a few at a time, each with its document.
  const hosts = plannedHosts(model);
  await inBatches(hosts, deps.hostConcurrency ?? 8, async (host) => {
    const id = `host/${host.name}`;
    const resource = desired.find((r) => r.id === id)!;
    const record = await ensureHostRecord(
      db,
      { environment, name: host.name, services: host.services, id: newId() },
      (hostId) => emptyDocument(environment, hostId, host.name, host.services),
    );
    // Recorded before anything is made for it (ports, the sandbox), so a destroy always finds it.
    const existing = await resourceRow(db, environment, id);
    const create = changed.has(id) || !existing;
    if (create) {
      await recordResource(db, environment, resource, existing ? 'updating' : 'creating', {
        hostId: record.id,
      });
    }
    // The slot's host may carry another name (a rollout replaced it): the provider knows it by that.
    const hostName = record.name;
    const { processes } = await serviceProcesses(provider, context, model, host.services, hostName, database);
    const serviceNames = new Set(model.services.map((s) => s.name));
    await updateHostDocument(db, record.id, (document) => ({
      ...document,
      host: { id: record.id, name: hostName, services: host.services },
      // Processes not named after a service belong to releases (the Deployments module): kept.
      processes: [...processes, ...document.processes.filter((p) => !serviceNames.has(p.name))],
    }));
    if (create) {
      const outputs = await steps.run(
        id,
        existing ? 'update' : 'create',
        resource.kind === 'host' ? `host for ${host.services.join(' + ')}` : id,
        () =>
          provider.ensureHost(context, {
            id: record.id,
            name: hostName,
            services: host.services,
            zone: host.zone,
            size: host.service.size,
            issueJoinToken: () => issueJoinToken(db, record.id, deps.clock.now()),
          }),
      );
      await recordResource(db, environment, resource, 'ready', { hostId: record.id, ...outputs });
    }
  });

  // 3. The load balancer, in front of the hosts of its service.
  const lbResource = desired.find((r) => r.kind === 'load-balancer');
  if (lbResource && model.loadBalancer) {
    const lb = model.loadBalancer;
    const existing = await resourceRow(db, environment, lbResource.id);
    if (changed.has(lbResource.id) || !existing) {
      const servers: { name: string; address: string; port: number }[] = [];
      for (const host of hosts.filter((h) => h.services.includes(lb.service))) {
        const service = model.services.find((s) => s.name === lb.service)!;
        const name = (await findHostBySlot(db, environment, host.name))?.name ?? host.name;
        const address = await provider.instanceAddress(context, name, lb.service, service.port ?? 80);
        servers.push({ name, address: address.address, port: address.port });
      }
      await recordResource(db, environment, lbResource, existing ? 'updating' : 'creating');
      const outputs = await steps.run(
        lbResource.id,
        existing ? 'update' : 'create',
        `ports ${lb.ports.join(', ')} → ${lb.service}`,
        () =>
          provider.ensureLoadBalancer(context, {
            name: lb.name,
            service: lb.service,
            ports: lb.ports,
            healthCheck: lb.healthCheck,
            servers,
          }),
      );
      await recordResource(db, environment, lbResource, 'ready', outputs);
    }
  }

  // 4. Role bindings for the environment's administrators and deployers.
  for (const resource of desired.filter((r) => r.kind === 'binding' && changed.has(r.id))) {
    const { role, subject } = resource.spec as { role: Role; subject: string };
    await steps.run(resource.id, 'create', `${subject} becomes ${role} of ${environment}`, () =>
      grantRole(deps.db, {
        subject: parseSubject(subject),
        role,
        scope: environmentScope(environment),
        createdBy: `environment:${environment}`,
      }),
    );
    await recordResource(db, environment, resource, 'ready');
  }

  // 5. What the definition no longer names, in reverse order.
  await removeResources(
    deps,
    provider,
    environment,
    changes.filter((c) => c.action === 'delete').map((c) => c.resource),
    steps,
  );
}

function emptyDocument(
  environment: string,
  id: string,
  name: string,
  services: readonly string[],
): HostDocument {
  return {
    schemaVersion: 1,
    environment,
    host: { id, name, services },
    release: null,
    processes: [],
    tasks: [],
  };
}

async function removeResources(
  deps: ApplyDeps,
  provider: EnvironmentProvider,
  environment: string,
  ids: readonly string[],
  steps: StepLog,
): Promise<void> {
  const db = deps.db as Db;
  const context: ProviderContext = {
    db: deps.db,
    environment,
    log: (line) => void steps.note(environment, 'log', 'done', line),
  };
  const rows = await recordedResources(db, environment);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const order = ['binding', 'load-balancer', 'host', 'database'];
  const doomed = ids
    .map((id) => byId.get(id))
    .filter((r) => r !== undefined)
    .sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
  const mark = (id: string) =>
    db
      .updateTable('environment_resources')
      .set({ status: 'deleting' })
      .where('environment', '=', environment)
      .where('resource', '=', id)
      .execute();
  const forget = (id: string) =>
    db
      .deleteFrom('environment_resources')
      .where('environment', '=', environment)
      .where('resource', '=', id)
      .execute();
  const hosts = doomed.filter((r) => r.kind === 'host');
  for (const resource of doomed.filter((r) => r.kind !== 'host' && r.kind !== 'database')) {
    await mark(resource.id);
    if (resource.kind === 'binding') {
      const { role, subject } = resource.spec as { role: Role; subject: string };
      await steps.run(resource.id, 'delete', `${subject} is no longer ${role} of ${environment}`, () =>
        revokeRole(deps.db, {
          subject: parseSubject(subject),
          role,
          scope: environmentScope(environment),
        }).catch(() => undefined),
      );
    } else if (resource.kind === 'load-balancer') {
      await steps.run(resource.id, 'delete', 'stop the load balancer', () =>
        provider.deleteLoadBalancer(context, resource.id.split('/')[1]!),
      );
    }
    await forget(resource.id);
  }
  await inBatches(hosts, deps.hostConcurrency ?? 8, async (resource) => {
    const slot = resource.id.slice('host/'.length);
    const record = (await findHostBySlot(db, environment, slot)) ?? (await findHost(db, environment, slot));
    await mark(resource.id);
    await steps.run(resource.id, 'delete', 'stop the agent and its processes, remove the host', () =>
      provider.deleteHost(context, record?.name ?? slot),
    );
    if (record) await deleteHostRecord(db, record.id);
    await forget(resource.id);
  });
  for (const resource of doomed.filter((r) => r.kind === 'database')) {
    await mark(resource.id);
    await steps.run(resource.id, 'delete', 'stop PostgreSQL and remove its data', () =>
      provider.deleteDatabase(context, resource.id.split('/')[1]!),
    );
    await forget(resource.id);
  }
}

/** Waits until the environment is healthy; returns its problems when time runs out. */
async function waitForHealth(deps: ApplyDeps, environment: string, steps: StepLog): Promise<string[]> {
  const deadline = Date.now() + (deps.healthTimeoutMs ?? 180_000);
  let last: string[] = [];
  let noted = '';
  await steps.note(
    environment,
    'wait',
    'running',
    'waiting for every host, the load balancer and the database to be healthy',
  );
  while (Date.now() < deadline) {
    if (deps.signal?.aborted) throw new ApplyInterruptedError();
    await deps.observe(environment);
    const view = await environmentView(deps.db as Db, environment, deps.clock.now(), { canApply: false });
    last = (view?.problems ?? ['unknown environment']).filter((p) => !p.startsWith('hosts are NOT isolated'));
    if (last.length === 0) {
      await steps.note(
        environment,
        'wait',
        'done',
        `healthy: ${view?.hosts.length ?? 0} hosts with connected agents${view?.loadBalancer ? ', the load balancer' : ''}${view?.database ? ', PostgreSQL' : ''}`,
      );
      return [];
    }
    const summary = `${last.length} thing${last.length === 1 ? '' : 's'} not healthy yet`;
    if (summary !== noted) {
      noted = summary;
      await steps.note(environment, 'wait', 'running', `${summary}: ${last.slice(0, 3).join('; ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return last;
}

/**
 * Runs (or resumes) one apply to its end: succeeded when everything is healthy, failed with the
 * reason otherwise. Audited when it ends.
 */
export async function runApply(deps: ApplyDeps, applyId: string): Promise<Apply> {
  const db = deps.db as Db;
  const apply = await db
    .selectFrom('environment_applies')
    .selectAll()
    .where('id', '=', applyId)
    .executeTakeFirstOrThrow();
  const plan = await db
    .selectFrom('environment_plans')
    .selectAll()
    .where('id', '=', apply.plan_id)
    .executeTakeFirstOrThrow();
  if (plan.status === PlanStatus.Evaluating) return toApply(apply);
  const environment = apply.environment;
  const steps = new StepLog(db, applyId, deps.clock, deps.signal);
  await db
    .updateTable('environment_applies')
    .set((eb) => ({
      status: 'running',
      started_at: apply.started_at ?? deps.clock.now(),
      attempts: eb('attempts', '+', 1),
    }))
    .where('id', '=', applyId)
    .execute();
  if (apply.status === 'running')
    await steps.note(
      environment,
      'resume',
      'done',
      'the control plane restarted during this apply: resuming it',
    );
  await setPlanStatus(db, plan.id, PlanStatus.Applying);
  const finish = async (status: 'succeeded' | 'failed', error: string | null) => {
    await db
      .updateTable('environment_applies')
      .set({ status, error, finished_at: deps.clock.now() })
      .where('id', '=', applyId)
      .execute();
    await setPlanStatus(db, plan.id, status === 'succeeded' ? PlanStatus.Applied : PlanStatus.Failed);
    await appendAudit(
      deps.db,
      {
        actor: 'system:apply',
        action: plan.kind === 'destroy' ? 'environments.destroy.finished' : 'environments.apply.finished',
        target: `environment:${environment}`,
        outcome: status === 'succeeded' ? 'success' : 'failure',
        details: {
          applyId,
          planId: plan.id,
          commit: plan.commit,
          requestedBy: apply.requested_by,
          ...(error ? { error: error.slice(0, 500) } : {}),
        },
      },
      deps.clock.now(),
    );
    return toApply(
      await db
        .selectFrom('environment_applies')
        .selectAll()
        .where('id', '=', applyId)
        .executeTakeFirstOrThrow(),
    );
  };
  try {
    if (plan.status === PlanStatus.Invalid) {
      return await finish(
        'failed',
        `the plan could not be made: ${plan.error ?? `${(plan.problems as unknown[]).length} problems in the definitions`}`,
      );
    }
    const envRow = await db
      .selectFrom('environments')
      .selectAll()
      .where('name', '=', environment)
      .executeTakeFirst();
    const model = plan.model as EnvironmentModel | null;
    const kind = model?.provider.kind ?? envRow?.provider ?? 'local';
    const provider = deps.provider(kind);
    if (!provider) return await finish('failed', `no provider "${kind}" is available on this control plane`);
    if (provider.cannotApply) return await finish('failed', provider.cannotApply);
    await db
      .updateTable('environments')
      .set({ status: plan.kind === 'destroy' ? 'destroying' : 'applying', updated_at: new Date() })
      .where('name', '=', environment)
      .execute();

    if (plan.kind === 'destroy' || !model) {
      const all = (await recordedResources(db, environment)).map((r) => r.id);
      const hostRecords = await listHosts(db, environment);
      await removeResources(deps, provider, environment, all, steps);
      // Every resource is recorded before the provider makes it: without a record there is nothing to clean.
      if (all.length > 0 || hostRecords.length > 0) {
        await steps.run(environment, 'delete', 'remove what is left (processes, ports, directories)', () =>
          provider.destroyEnvironment({
            db: deps.db,
            environment,
            log: (line) => void steps.note(environment, 'log', 'done', line),
          }),
        );
      }
      for (const host of await listHosts(db, environment)) await deleteHostRecord(db, host.id);
      await db.deleteFrom('environment_resources').where('environment', '=', environment).execute();
      await db
        .updateTable('environments')
        .set({ status: 'destroyed', model: null, model_hash: null, updated_at: new Date() })
        .where('name', '=', environment)
        .execute();
      return await finish('succeeded', null);
    }

    await converge(deps, provider, model, steps);
    const problems = await waitForHealth(deps, environment, steps);
    if (problems.length > 0) {
      await db
        .updateTable('environments')
        .set({ status: 'failed', updated_at: new Date() })
        .where('name', '=', environment)
        .execute();
      return await finish(
        'failed',
        `not healthy within ${Math.round((deps.healthTimeoutMs ?? 180_000) / 1000)} s: ${problems.slice(0, 5).join('; ')}`,
      );
    }
    await db
      .updateTable('environments')
      .set({
        status: 'ready',
        model: JSON.stringify(model),
        model_hash: plan.model_hash,
        file: plan.file,
        provider: model.provider.kind,
        applied_commit: plan.commit,
        applied_at: deps.clock.now(),
        updated_at: new Date(),
      })
      .where('name', '=', environment)
      .execute();
    return await finish('succeeded', null);
  } catch (error) {
    await db
      .updateTable('environments')
      .set({ status: 'failed', updated_at: new Date() })
      .where('name', '=', environment)
      .execute();
    return finish('failed', (error as Error).message);
  }
}
