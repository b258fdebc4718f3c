/**
 * Rollouts on an environment: the operations a deployment performs on its hosts and its load
 * balancer (create a host running a release, point a host at a release and wait until it converged,
 * run a release hook, weigh, drain, remove, adopt). Every operation is idempotent: a deployment
 * resumed after a control-plane restart repeats the one it was in.
 */
import type { Kysely } from 'kysely';
import type { StopSignal } from '../agent/index.ts';
import { type Clock, newId, UnavailableError } from '../core/index.ts';
import type { EnvironmentProvider, LoadBalancerControl, ProviderContext } from '../providers/index.ts';
import { serviceProcesses } from './applies.ts';
import type {
  DocumentContext,
  HostDocument,
  StoredProcess,
  StoredRelease,
  StoredTask,
} from './host-documents.ts';
import {
  assignSlots,
  deleteHostRecord,
  ensureStandbyHostRecord,
  findHost,
  getHost,
  type HostRow,
  issueJoinToken,
  listHosts,
  updateHostDocument,
} from './hosts.ts';
import type { EnvironmentModel } from './model.ts';
import { plannedHosts } from './resources.ts';
import type { EnvironmentsTables } from './schema.ts';

type Db = Kysely<EnvironmentsTables>;

/** What a release brings to the hosts of its app, as the Deployments module describes it. */
export interface ReleaseLayout {
  readonly id: string;
  readonly app: string;
  readonly version: string;
  /** The release as the document stores it; its env file is filled in per host. */
  readonly spec: StoredRelease;
  /** Each process type's command and stop settings (slipway.yaml's processes). */
  readonly processTypes: Readonly<
    Record<
      string,
      { readonly command: readonly string[]; readonly stopSignal: StopSignal; readonly stopTimeoutMs: number }
    >
  >;
  /** Hooks run once per deployment, on one host. */
  readonly hooks: Readonly<
    Record<
      'predeploy' | 'postdeploy',
      readonly { readonly name: string; readonly command: readonly string[]; readonly timeoutMs: number }[]
    >
  >;
  /** Variables every process of the release gets (APP_VERSION, …). */
  readonly env: Readonly<Record<string, string>>;
}

/** What a rollout target needs. */
export interface RolloutTargetOptions {
  readonly db: Kysely<any>;
  readonly clock: Clock;
  readonly provider: EnvironmentProvider;
  readonly context: ProviderContext;
  readonly environment: string;
  readonly app: string;
  /** The layout of a release by id; null for "no release". */
  readonly release: (id: string | null) => Promise<ReleaseLayout | null>;
  /** How long a host may take to install and become healthy. @default 240 s */
  readonly convergeTimeoutMs?: number;
  /** How long in-flight requests may take to finish when a host is drained. @default 60 s */
  readonly drainTimeoutMs?: number;
  /** A line for the deployment's log. */
  readonly log?: (line: string) => void;
}

const BASE_KEYS = new Set(['PATH', 'HOME', 'LANG']);

/** A rollout's view of an environment; the shape of the Deployments module's RolloutTarget. */
export class EnvironmentRollout {
  readonly #o: RolloutTargetOptions;
  #model: EnvironmentModel | undefined;

  constructor(options: RolloutTargetOptions) {
    this.#o = options;
  }

  get #db(): Db {
    return this.#o.db as Db;
  }

  async #loadModel(): Promise<EnvironmentModel> {
    if (this.#model) return this.#model;
    const row = await this.#db
      .selectFrom('environments')
      .select(['model'])
      .where('name', '=', this.#o.environment)
      .executeTakeFirst();
    if (!row?.model) {
      throw new UnavailableError(`Cannot deploy to "${this.#o.environment}": it has not been applied yet`, {
        hint: `Run \`slipway env apply ${this.#o.environment}\` first`,
        retryable: false,
      });
    }
    this.#model = row.model as EnvironmentModel;
    return this.#model;
  }

  async #database(): Promise<DocumentContext['database']> {
    const row = await this.#db
      .selectFrom('environment_resources')
      .select(['outputs'])
      .where('environment', '=', this.#o.environment)
      .where('kind', '=', 'database')
      .where('status', '=', 'ready')
      .executeTakeFirst();
    return (row?.outputs as DocumentContext['database'] | undefined) ?? null;
  }

  /** The services of the app being deployed. */
  async #appServices(): Promise<Set<string>> {
    const model = await this.#loadModel();
    return new Set(model.services.filter((s) => s.app === this.#o.app).map((s) => s.name));
  }

  async #balancer(): Promise<{ control: LoadBalancerControl; backend: string } | undefined> {
    const model = await this.#loadModel();
    if (!model.loadBalancer || !this.#o.provider.loadBalancerControl) return undefined;
    return {
      control: this.#o.provider.loadBalancerControl(this.#o.environment),
      backend: model.loadBalancer.service,
    };
  }

  async #host(name: string): Promise<HostRow> {
    const row = await findHost(this.#db, this.#o.environment, name);
    if (!row) throw new Error(`host ${name} is not part of ${this.#o.environment}`);
    return row;
  }

  /** The hosts of the app's services that the environment runs now (those filling slots). */
  async instances(): Promise<{ host: string; serving: boolean }[]> {
    const model = await this.#loadModel();
    const services = await this.#appServices();
    const hosts = (await listHosts(this.#db, this.#o.environment)).filter(
      (h) => h.slot !== null && h.services.some((s) => services.has(s)),
    );
    const served = model.loadBalancer?.service;
    return hosts.map((h) => ({ host: h.name, serving: served !== undefined && h.services.includes(served) }));
  }

  /** The host document for `services` on `hostName`, running `layout` (or no release). */
  async #document(
    base: HostDocument,
    hostName: string,
    services: readonly string[],
    layout: ReleaseLayout | null,
  ): Promise<HostDocument> {
    const model = await this.#loadModel();
    const appServices = await this.#appServices();
    const database = await this.#database();
    const { processes: own, ports } = await serviceProcesses(
      this.#o.provider,
      this.#o.context,
      model,
      services,
      hostName,
      database,
    );
    const processes: StoredProcess[] = own.filter((p) => !appServices.has(p.name));
    if (layout) {
      for (const name of services.filter((s) => appServices.has(s))) {
        const service = model.services.find((s) => s.name === name)!;
        const type = layout.processTypes[service.processType];
        if (!type) {
          throw new Error(
            `release ${layout.version} of ${layout.app} has no process type "${service.processType}" (service "${name}")`,
          );
        }
        const [process] = (
          await serviceProcesses(
            this.#o.provider,
            this.#o.context,
            {
              ...model,
              services: model.services.map((s) =>
                s.name === name ? { ...s, command: [...type.command] } : s,
              ),
            },
            [name],
            hostName,
            database,
          )
        ).processes;
        if (!process) continue;
        processes.push({
          ...process,
          cwd: layout.spec.install.directory,
          user: layout.spec.install.user,
          env: { ...process.env, ...layout.env, ...(ports[name] ? { PORT: String(ports[name]) } : {}) },
          stopSignal: type.stopSignal,
          stopTimeoutMs: Math.max(type.stopTimeoutMs, service.stopTimeoutMs),
        });
      }
    }
    // Keep the environment's own processes and tasks that are not the app's.
    const keptTasks = base.tasks.filter((t) => !t.id.startsWith(`${this.#o.app}:`));
    const appProcess = processes.find((p) => appServices.has(p.name));
    const envFile =
      layout && appProcess
        ? {
            path: `${layout.spec.install.directory}/.env`,
            variables: Object.fromEntries(
              Object.entries(appProcess.env).filter(
                ([k]) => !BASE_KEYS.has(k) && !k.startsWith('SLIPWAY_') && k !== 'PORT',
              ),
            ),
            secrets: appProcess.secrets,
          }
        : null;
    return {
      ...base,
      host: { ...base.host, name: hostName, services: [...services] },
      release: layout ? { ...layout.spec, envFile } : null,
      processes: [
        ...processes,
        ...base.processes.filter((p) => !appServices.has(p.name) && !own.some((o) => o.name === p.name)),
      ],
      tasks: keptTasks,
    };
  }

  /** Creates a host shaped like `like` running `release`; nothing when it exists already. */
  async createHost(host: string, like: string, release: string | null, _signal: AbortSignal): Promise<void> {
    const model = await this.#loadModel();
    const template = await findHost(this.#db, this.#o.environment, like);
    const planned = plannedHosts(model);
    const prefix = like.replace(/-\d+$/, '');
    const shape =
      planned.find((p) => p.name === (template?.slot ?? like)) ??
      planned.find((p) => p.name.replace(/-\d+$/, '') === prefix);
    if (!shape) throw new Error(`no service of ${this.#o.environment} makes hosts like ${like}`);
    const services = template?.services ?? shape.services;
    const layout = await this.#o.release(release);
    const record = await ensureStandbyHostRecord(
      this.#db,
      { environment: this.#o.environment, name: host, services, id: newId() },
      (id) => ({
        schemaVersion: 1,
        environment: this.#o.environment,
        host: { id, name: host, services },
        release: null,
        processes: [],
        tasks: [],
      }),
    );
    const current = (await getHost(this.#db, record.id))!;
    const document = await this.#document(current.document as HostDocument, host, services, layout);
    await updateHostDocument(this.#db, record.id, () => document);
    await this.#o.provider.ensureHost(this.#o.context, {
      id: record.id,
      name: host,
      services,
      zone: shape.zone,
      size: shape.service.size,
      issueJoinToken: () => issueJoinToken(this.#db, record.id, this.#o.clock.now()),
    });
  }

  /** Points a host at a release and waits until it installed it and its processes are healthy. */
  async install(host: string, release: string | null, signal: AbortSignal): Promise<void> {
    const record = await this.#host(host);
    const layout = await this.#o.release(release);
    const document = await this.#document(record.document as HostDocument, host, record.services, layout);
    await updateHostDocument(this.#db, record.id, () => document);
    await this.waitHealthy(host, signal);
  }

  /**
   * Waits until the host's agent runs its newest document: the release installed (or a clear
   * failure, thrown with the agent's message), every process running and passing its checks.
   */
  async waitHealthy(host: string, signal: AbortSignal): Promise<void> {
    const deadline = this.#o.clock.now().getTime() + (this.#o.convergeTimeoutMs ?? 240_000);
    let last = 'no report yet';
    while (this.#o.clock.now().getTime() < deadline) {
      if (signal.aborted) throw signal.reason;
      const row = await this.#host(host);
      const document = row.document as HostDocument;
      const report = row.report as {
        appliedRevision: number | null;
        error: string | null;
        release?: { state: string; version: string | null; message: string | null };
        processes: { name: string; state: string; health: { status: string; message: string | null } }[];
      } | null;
      if (report) {
        const wanted = document.release?.artifact.version ?? null;
        if (report.release?.state === 'failed' && (report.release.version === wanted || wanted !== null)) {
          throw new Error(
            `${host} could not install ${wanted ?? 'the release'}: ${report.release.message ?? 'no reason given'}`,
          );
        }
        const releaseReady =
          wanted === null
            ? report.release?.state !== 'installing'
            : report.release?.state === 'installed' && report.release.version === wanted;
        const processesReady = document.processes.every((p) => {
          const seen = report.processes.find((r) => r.name === p.name);
          return seen?.state === 'running' && (p.healthCheck === null || seen.health.status === 'healthy');
        });
        const converged = (row.applied_revision ?? report.appliedRevision ?? 0) >= row.revision;
        if (converged && releaseReady && processesReady) return;
        const unhealthy = report.processes
          .filter((r) => r.state !== 'running' || r.health.status === 'unhealthy')
          .map((r) => `${r.name} ${r.state}${r.health.message ? ` (${r.health.message})` : ''}`);
        last = [
          converged ? undefined : `on revision ${row.applied_revision ?? 'none'} of ${row.revision}`,
          report.release
            ? `release ${report.release.state}${report.release.version ? ` ${report.release.version}` : ''}`
            : undefined,
          report.error ?? undefined,
          ...unhealthy,
        ]
          .filter(Boolean)
          .join('; ');
      }
      await this.#o.clock.sleep(250);
    }
    throw new Error(`${host} did not become healthy in time: ${last || 'waiting for its agent'}`);
  }

  /** Runs a release hook's commands on a host, one after another, each as a task; throws on failure. */
  async runHook(
    host: string,
    hook: 'predeploy' | 'postdeploy',
    release: string | null,
    signal: AbortSignal,
  ): Promise<void> {
    const layout = await this.#o.release(release);
    const commands = layout?.hooks[hook] ?? [];
    const record = await this.#host(host);
    const appServices = await this.#appServices();
    const appProcess = (record.document as HostDocument).processes.find((p) => appServices.has(p.name));
    for (const [index, command] of commands.entries()) {
      const id = `${this.#o.app}:${layout!.id}:${hook}:${index}`;
      const task: StoredTask = {
        id,
        name: `${hook}: ${command.name}`,
        command: [...command.command],
        cwd: layout!.spec.install.directory,
        user: layout!.spec.install.user,
        env: appProcess?.env ?? {},
        secrets: appProcess?.secrets ?? {},
        timeoutMs: command.timeoutMs,
      };
      await updateHostDocument(this.#db, record.id, (doc) => ({
        ...doc,
        tasks: [...doc.tasks.filter((t) => t.id !== id), task],
      }));
      try {
        await this.#waitTask(host, id, command.timeoutMs + 60_000, signal);
      } finally {
        await updateHostDocument(this.#db, record.id, (doc) => ({
          ...doc,
          tasks: doc.tasks.filter((t) => t.id !== id),
        }));
      }
      this.#o.log?.(`${hook} on ${host}: ${command.name} succeeded`);
    }
  }

  async #waitTask(host: string, id: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
    const deadline = this.#o.clock.now().getTime() + timeoutMs;
    while (this.#o.clock.now().getTime() < deadline) {
      if (signal.aborted) throw signal.reason;
      const row = await this.#host(host);
      const report = row.report as {
        tasks: { id: string; state: string; exitCode: number | null; output: string }[];
      } | null;
      const task = report?.tasks.find((t) => t.id === id);
      if (task?.state === 'succeeded') return;
      if (task?.state === 'failed') {
        const tail = task.output.trim().split('\n').slice(-5).join('\n');
        throw new Error(
          `${id.split(':').slice(2).join(' ')} failed on ${host} (exit ${task.exitCode ?? 'signal'}):\n${tail}`,
        );
      }
      await this.#o.clock.sleep(250);
    }
    throw new Error(`the task ${id} on ${host} did not finish in time`);
  }

  /** Puts a host in the balancer with a weight, and waits until the balancer sees it up. */
  async serve(host: string, weight: number, _signal: AbortSignal): Promise<void> {
    const lb = await this.#balancer();
    if (!lb) return;
    const model = await this.#loadModel();
    const service = model.services.find((s) => s.name === lb.backend)!;
    const stats = await lb.control.serverStats(lb.backend);
    if (!stats.some((s) => s.server === host)) {
      const address = await this.#o.provider.instanceAddress(
        this.#o.context,
        host,
        lb.backend,
        service.port ?? 80,
      );
      const check = model.loadBalancer!.healthCheck;
      await lb.control.addServer(lb.backend, host, {
        address: address.address,
        port: address.port,
        weight,
        check: { intervalMs: check.intervalMs, rise: check.rise, fall: check.fall },
        enable: true,
      });
    } else {
      await lb.control.setWeight(lb.backend, host, weight);
      await lb.control.setState(lb.backend, host, 'ready');
    }
    await lb.control.waitForStatus(lb.backend, host, 'UP', this.#o.convergeTimeoutMs ?? 240_000);
  }

  /** Sets several weights. */
  async setWeights(weights: Readonly<Record<string, number>>, _signal: AbortSignal): Promise<void> {
    const lb = await this.#balancer();
    if (!lb) return;
    const present = new Set((await lb.control.serverStats(lb.backend)).map((s) => s.server));
    // Heaviest first, zeros last: between two commands some server must always take traffic (a
    // blue-green switch lowering the old set first would leave none for a moment: 503s). The order
    // of the object's keys is no guide; the plan comes back from jsonb with its keys sorted.
    const ordered = Object.entries(weights).sort(([, a], [, b]) => b - a);
    for (const [host, weight] of ordered) {
      if (present.has(host)) await lb.control.setWeight(lb.backend, host, weight);
    }
  }

  /** Stops new traffic to a host and waits (bounded) until its in-flight requests finished. */
  async drain(host: string, signal: AbortSignal): Promise<void> {
    const lb = await this.#balancer();
    if (!lb) return;
    const stat = (await lb.control.serverStats(lb.backend)).find((s) => s.server === host);
    if (!stat) return;
    await lb.control.setState(lb.backend, host, 'drain');
    const deadline = this.#o.clock.now().getTime() + (this.#o.drainTimeoutMs ?? 60_000);
    while (this.#o.clock.now().getTime() < deadline) {
      if (signal.aborted) throw signal.reason;
      const now = (await lb.control.serverStats(lb.backend)).find((s) => s.server === host);
      if (!now || now.currentSessions === 0) return;
      await this.#o.clock.sleep(100);
    }
    this.#o.log?.(`${host} still had requests after the drain timeout; going on`);
  }

  /** Removes a host: out of the balancer, its agent and processes stopped, its record gone. */
  async deleteHost(host: string, signal: AbortSignal): Promise<void> {
    const lb = await this.#balancer();
    if (lb && (await lb.control.serverStats(lb.backend)).some((s) => s.server === host)) {
      await this.drain(host, signal);
      await lb.control.deleteServer(lb.backend, host);
    }
    const record = await findHost(this.#db, this.#o.environment, host);
    await this.#o.provider.deleteHost(this.#o.context, host);
    if (record) await deleteHostRecord(this.#db, record.id);
  }

  /** The balancer's counters for a host. */
  async counters(host: string): Promise<{ requests: number; errors5xx: number; averageResponseMs: number }> {
    const lb = await this.#balancer();
    const stat = lb ? (await lb.control.serverStats(lb.backend)).find((s) => s.server === host) : undefined;
    return {
      requests: stat?.totalSessions ?? 0,
      errors5xx: stat?.responses5xx ?? 0,
      averageResponseMs: stat?.averageResponseMs ?? 0,
    };
  }

  /**
   * Makes the hosts a rollout ended with the environment's own: each takes a slot of its service
   * (in name order), the recorded resources point at them, and the balancer's configuration file
   * lists them (so a restart of HAProxy keeps them).
   */
  async adopt(hosts: readonly string[], _release: string | null): Promise<void> {
    const model = await this.#loadModel();
    const records = await Promise.all(hosts.map((h) => this.#host(h)));
    const slots: Record<string, string> = {};
    for (const planned of plannedHosts(model)) {
      const candidates = records
        .filter((r) => r.services.join(',') === planned.services.join(','))
        .filter((r) => !Object.values(slots).includes(r.id))
        .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
      const holder = candidates.find((r) => r.slot === planned.name) ?? candidates[0];
      if (holder) slots[planned.name] = holder.id;
    }
    await this.#db.transaction().execute(async (trx) => {
      await assignSlots(trx, this.#o.environment, slots);
      for (const [slot, hostId] of Object.entries(slots)) {
        await trx
          .updateTable('environment_resources')
          .set((eb) => ({
            outputs: eb.fn('jsonb_set', [
              eb.ref('outputs'),
              eb.val('{hostId}'),
              eb.val(JSON.stringify(hostId)),
            ]),
          }))
          .where('environment', '=', this.#o.environment)
          .where('resource', '=', `host/${slot}`)
          .execute();
      }
    });
    const lb = model.loadBalancer;
    if (lb) {
      const service = model.services.find((s) => s.name === lb.service)!;
      const servers = [];
      for (const record of records.filter((r) => r.services.includes(lb.service))) {
        const address = await this.#o.provider.instanceAddress(
          this.#o.context,
          record.name,
          lb.service,
          service.port ?? 80,
        );
        servers.push({ name: record.name, address: address.address, port: address.port });
      }
      await this.#o.provider.ensureLoadBalancer(this.#o.context, {
        name: lb.name,
        service: lb.service,
        ports: lb.ports,
        healthCheck: lb.healthCheck,
        servers,
      });
    }
  }
}

/** The model an environment was last applied with, or undefined when it never was. */
export async function appliedModel(
  db: Kysely<any>,
  environment: string,
): Promise<EnvironmentModel | undefined> {
  const row = await (db as Db)
    .selectFrom('environments')
    .select(['model', 'status'])
    .where('name', '=', environment)
    .executeTakeFirst();
  return row?.model && row.status !== 'destroyed' ? (row.model as EnvironmentModel) : undefined;
}
