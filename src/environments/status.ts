/**
 * How an environment is doing, from what the control plane knows: the agents' reports (fresh or
 * stale), the provider's observations (agent, load balancer and database processes), and the last
 * plans and applies. `env show` and the console read this.
 */
import type { Kysely, Selectable } from 'kysely';
import type { AgentReport, ProcessReport } from '../agent/index.ts';
import type { EnvironmentObservation, HostObservation } from '../providers/index.ts';
import type { HostDocument } from './host-documents.ts';
import type { HostEvent, HostRow } from './hosts.ts';
import type { EnvironmentModel } from './model.ts';
import { listPlans, waitingPlan } from './plans.ts';
import type { Apply, EnvironmentSummary, EnvironmentsTables, EnvironmentView, HostView } from './schema.ts';

type Db = Kysely<EnvironmentsTables>;

/** A host whose last report is older than this is unhealthy. */
export const AGENT_STALE_MS = 6000;
/** Observations older than this are not trusted. */
const OBSERVATION_STALE_MS = 15_000;

/** An apply row as the API shows it. */
export function toApply(row: Selectable<EnvironmentsTables['environment_applies']>): Apply {
  return {
    id: row.id,
    environment: row.environment,
    planId: row.plan_id,
    status: row.status as Apply['status'],
    requestedBy: row.requested_by,
    requestedAt: row.requested_at.toISOString(),
    startedAt: row.started_at?.toISOString() ?? null,
    finishedAt: row.finished_at?.toISOString() ?? null,
    commit: row.commit,
    steps: (row.steps as Apply['steps']) ?? [],
    error: row.error,
    attempts: row.attempts,
  };
}

function processView(
  report: ProcessReport,
  pids: Readonly<Record<string, number>>,
): HostView['processes'][number] {
  return {
    name: report.name,
    state: report.state,
    pid: report.pid,
    hostPid: report.pid !== null ? (pids[String(report.pid)] ?? null) : null,
    restarts: report.restarts,
    backoffMs: report.backoffMs,
    nextStartAt: report.nextStartAt,
    lastExit: report.lastExit,
    health: report.health,
    rssBytes: report.rssBytes,
    message: report.message,
  };
}

/** The release part of a host's view: what its document names and what its agent reports. */
function releaseView(document: HostDocument, report: AgentReport | null): HostView['release'] {
  const desired = document.release
    ? { id: document.release.id, version: document.release.version, package: document.release.artifact.name }
    : null;
  const reported = report?.release;
  if (!desired && (!reported || reported.state === 'none')) return null;
  return {
    desired,
    state: reported?.state ?? 'none',
    id: reported?.id ?? null,
    version: reported?.version ?? null,
    message: reported?.message ?? null,
    phase: reported?.phase ?? null,
    log: reported?.log ?? '',
    installed: reported?.installed ?? null,
    finishedAt: reported?.finishedAt ?? null,
  };
}

/** A host as `env show` presents it, with every reason it is not healthy. */
export function hostView(
  host: HostRow,
  observation: HostObservation | undefined,
  isolated: boolean | null,
  now: Date,
): HostView {
  const report = host.report as AgentReport | null;
  const document = host.document as HostDocument;
  const age = host.reported_at ? now.getTime() - host.reported_at.getTime() : Number.POSITIVE_INFINITY;
  const connected = age < AGENT_STALE_MS;
  const problems: string[] = [];
  if (observation && !observation.agentRunning)
    problems.push('the agent process is not running (the provider starts it again)');
  if (!report)
    problems.push(host.joined_at ? 'the agent has not reported yet' : 'the agent has not joined yet');
  else if (!connected) problems.push(`no report from the agent for ${Math.round(age / 1000)} s`);
  if (report && (report.appliedRevision ?? -1) < host.revision) {
    problems.push(
      report.error
        ? `cannot apply revision ${host.revision}: ${report.error}`
        : `the agent has not applied revision ${host.revision} yet`,
    );
  }
  const reported = new Map((report?.processes ?? []).map((p) => [p.name, p]));
  for (const wanted of document.processes) {
    const p = reported.get(wanted.name);
    if (!p) {
      if (report) problems.push(`process ${wanted.name} is not running`);
      continue;
    }
    if (p.state !== 'running') {
      problems.push(
        `process ${wanted.name} is ${p.state}${p.state === 'backoff' ? ` (restart ${p.restarts}, next in ${p.backoffMs} ms)` : ''}${p.message ? `: ${p.message}` : ''}`,
      );
    } else if (p.health.status === 'unhealthy' || p.health.status === 'unknown') {
      problems.push(
        `process ${wanted.name}: health check ${p.health.status}${p.health.message ? ` (${p.health.message})` : ''}`,
      );
    }
  }
  const status: HostView['status'] =
    problems.length === 0 ? 'healthy' : !report && !observation ? 'pending' : 'unhealthy';
  const pids = observation?.pids ?? {};
  return {
    id: host.id,
    name: host.name,
    services: host.services,
    status,
    problems,
    isolated,
    agent: {
      connected,
      running: observation ? observation.agentRunning : null,
      pid: observation?.agentPid ?? null,
      version: report?.agent.version ?? null,
      instance: report?.agent.instance ?? null,
      lastReportAt: host.reported_at?.toISOString() ?? null,
      joinedAt: host.joined_at?.toISOString() ?? null,
      rssBytes: report?.agent.rssBytes ?? null,
    },
    revision: { desired: host.revision, applied: host.applied_revision },
    processes: (report?.processes ?? []).map((p) => processView(p, pids)),
    release: releaseView(document, report),
    metrics: report?.metrics ?? null,
    events: ((host.events as HostEvent[]) ?? []).slice(-10),
  };
}

interface ResourceRow {
  resource: string;
  kind: string;
  spec: unknown;
  status: string;
  outputs: unknown;
  observed: unknown | null;
  observed_at: Date | null;
}

function fresh(row: ResourceRow | undefined, now: Date): boolean {
  return Boolean(row?.observed_at && now.getTime() - row.observed_at.getTime() < OBSERVATION_STALE_MS);
}

/** Everything `env show` says about one environment, or undefined when it is unknown. */
export async function environmentView(
  db: Db,
  name: string,
  now: Date,
  options: { canApply: boolean },
): Promise<EnvironmentView | undefined> {
  const environment = await db
    .selectFrom('environments')
    .selectAll()
    .where('name', '=', name)
    .executeTakeFirst();
  if (!environment) return undefined;
  const resources = (await db
    .selectFrom('environment_resources')
    .select(['resource', 'kind', 'spec', 'status', 'outputs', 'observed', 'observed_at'])
    .where('environment', '=', name)
    .execute()) as ResourceRow[];
  const byId = new Map(resources.map((r) => [r.resource, r]));
  const hostRows = await db
    .selectFrom('environment_hosts')
    .selectAll()
    .where('environment', '=', name)
    .orderBy('name')
    .execute();
  const hosts = hostRows.map((row) => {
    const resource = byId.get(`host/${row.slot ?? row.name}`);
    const observation = fresh(resource, now) ? (resource!.observed as HostObservation) : undefined;
    const isolated = (resource?.outputs as { isolated?: boolean } | undefined)?.isolated ?? null;
    return hostView(row, observation, isolated, now);
  });
  const problems = hosts.flatMap((h) => h.problems.map((p) => `host ${h.name}: ${p}`));

  const model = environment.model as EnvironmentModel | null;
  let loadBalancer: EnvironmentView['loadBalancer'] = null;
  const lbRow = resources.find((r) => r.kind === 'load-balancer');
  if (lbRow) {
    const recorded = lbRow.spec as { name: string; service: string; servers: string[] };
    // The spec names slots; the balancer knows the hosts that fill them by their own names.
    const holder = new Map(hostRows.filter((h) => h.slot !== null).map((h) => [h.slot!, h.name]));
    const spec = { ...recorded, servers: recorded.servers.map((slot) => holder.get(slot) ?? slot) };
    const observed = fresh(lbRow, now) ? (lbRow.observed as EnvironmentObservation['loadBalancer']) : null;
    const servers = (observed?.servers ?? []).filter((s) => spec.servers.includes(s.name));
    const lbProblems: string[] = [];
    if (observed && !observed.running) lbProblems.push('HAProxy is not running');
    // A host with nothing to serve yet (an app's service before its first release) is expected to be
    // DOWN at the balancer: it waits for a deployment, it is not broken.
    const awaitingRelease = new Set(
      hostRows
        .filter((h) => {
          const document = h.document as HostDocument;
          return !document.release && document.processes.length === 0;
        })
        .map((h) => h.name),
    );
    for (const server of spec.servers) {
      const s = servers.find((x) => x.name === server);
      if (observed?.running && !s?.status.startsWith('UP') && !awaitingRelease.has(server))
        lbProblems.push(`server ${server} is ${s?.status ?? 'missing'}`);
    }
    if (!observed) lbProblems.push('not observed yet');
    problems.push(...lbProblems.map((p) => `load balancer: ${p}`));
    loadBalancer = {
      name: spec.name,
      service: spec.service,
      status: lbProblems.length === 0 ? 'healthy' : observed ? 'unhealthy' : 'pending',
      running: observed ? observed.running : null,
      endpoints: (lbRow.outputs as { endpoints?: { port: number; url: string }[] }).endpoints ?? [],
      servers,
    };
  }
  let database: EnvironmentView['database'] = null;
  const dbRow = resources.find((r) => r.kind === 'database');
  if (dbRow) {
    const spec = dbRow.spec as {
      name: string;
      version: number;
      databases: { name: string }[];
      roles: { name: string }[];
    };
    const outputs = dbRow.outputs as { host?: string; port?: number };
    const observed = fresh(dbRow, now) ? (dbRow.observed as EnvironmentObservation['database']) : null;
    if (observed && !observed.running) problems.push('database: PostgreSQL is not running');
    if (!observed) problems.push('database: not observed yet');
    database = {
      name: spec.name,
      status: observed?.running ? 'healthy' : observed ? 'unhealthy' : 'pending',
      running: observed ? observed.running : null,
      version: spec.version,
      host: outputs.host ?? null,
      port: outputs.port ?? null,
      databases: spec.databases.map((d) => d.name),
      roles: spec.roles.map((r) => r.name),
    };
  }
  const applyRow = await db
    .selectFrom('environment_applies')
    .selectAll()
    .where('environment', '=', name)
    .orderBy('requested_at', 'desc')
    .executeTakeFirst();
  const lastApply = applyRow ? toApply(applyRow) : null;
  const [lastPlan] = await listPlans(db, name, 1);
  const waiting = await waitingPlan(db, name);
  const applying = lastApply?.status === 'queued' || lastApply?.status === 'running';
  const status: EnvironmentView['status'] =
    environment.status === 'destroyed' && !applying
      ? 'destroyed'
      : applying
        ? 'applying'
        : resources.length === 0 && hostRows.length === 0
          ? 'not-applied'
          : environment.status === 'failed'
            ? 'failed' // until an apply succeeds: whatever runs now, the definition did not take
            : problems.length === 0
              ? 'healthy'
              : 'unhealthy';
  const isolation = hosts.length > 0 ? isolationOf(byId) : null;
  if (isolation && !isolation.isolated) problems.unshift(`hosts are NOT isolated: ${isolation.description}`);
  return {
    name,
    status,
    problems,
    provider: model
      ? { kind: model.provider.kind, vendor: model.provider.vendor }
      : { kind: environment.provider, vendor: environment.provider },
    file: environment.file,
    appliedCommit: environment.applied_commit,
    appliedAt: environment.applied_at?.toISOString() ?? null,
    isolation,
    hosts,
    loadBalancer,
    database,
    lastPlan: lastPlan ?? null,
    waitingPlan: waiting ?? null,
    lastApply,
    canApply: options.canApply,
  };
}

function isolationOf(resources: Map<string, ResourceRow>): EnvironmentView['isolation'] {
  for (const row of resources.values()) {
    if (row.kind !== 'host') continue;
    const outputs = row.outputs as { isolated?: boolean; isolation?: string };
    if (outputs.isolation) return { isolated: outputs.isolated === true, description: outputs.isolation };
  }
  return null;
}

/** One line per environment, for `env list`. */
export async function environmentSummaries(db: Db, now: Date): Promise<EnvironmentSummary[]> {
  const environments = await db.selectFrom('environments').selectAll().orderBy('name').execute();
  const summaries: EnvironmentSummary[] = [];
  for (const environment of environments) {
    const view = await environmentView(db, environment.name, now, { canApply: false });
    if (!view) continue;
    summaries.push({
      name: view.name,
      status: view.status,
      provider: view.provider?.kind ?? null,
      hosts: view.hosts.length,
      healthyHosts: view.hosts.filter((h) => h.status === 'healthy').length,
      appliedCommit: view.appliedCommit,
      appliedAt: view.appliedAt,
      waitingPlan: view.waitingPlan?.id ?? null,
    });
  }
  return summaries;
}
