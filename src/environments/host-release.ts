/**
 * Releases on hosts, for the Deployments module: point a host at a release (with the processes that
 * run from it) and read back where its agent is with it, from its reports.
 */
import type { Kysely } from 'kysely';
import type { AgentReport, ReleaseReport } from '../agent/index.ts';
import type { HostDocument, StoredProcess, StoredRelease, StoredTask } from './host-documents.ts';
import { getHost, updateHostDocument } from './hosts.ts';
import type { EnvironmentsTables } from './schema.ts';

type Db = Kysely<EnvironmentsTables>;

/** What a host runs of a release. */
export interface HostReleaseChange {
  /** The release (env file secrets as sources, vault secrets at `secrets.version`); null removes the package. */
  readonly release: StoredRelease | null;
  /**
   * The processes that run from the release (named unlike the host's services); they replace the
   * release processes the document has. Service processes (the environment's own) stay. @default unchanged
   */
  readonly processes?: readonly StoredProcess[];
  /** Tasks to run once (release hooks); they replace the document's tasks. @default unchanged */
  readonly tasks?: readonly StoredTask[];
}

/**
 * Points a host at a release, under the document's row lock; the agent is woken. Returns the
 * document's revision (the same one when nothing changed).
 */
export async function setHostRelease(db: Db, hostId: string, change: HostReleaseChange): Promise<number> {
  return updateHostDocument(db, hostId, (document: HostDocument) => {
    const services = new Set(document.host.services);
    return {
      ...document,
      release: change.release,
      processes: change.processes
        ? [...document.processes.filter((p) => services.has(p.name)), ...change.processes]
        : document.processes,
      tasks: change.tasks ?? document.tasks,
    };
  });
}

/** Where a host is with its desired release, from its agent's last report. */
export interface HostReleaseStatus {
  /**
   * - `pending`: the agent has not started on the desired release (or has not reported since);
   * - `installing` / `removing`: it is on it (`phase` says where);
   * - `installed`: installed, env file written, steps done; its processes are not all healthy yet;
   * - `healthy`: installed and the document's processes run and pass their health checks;
   * - `failed`: it could not (see `message` and `log`); `installed` is what the host runs instead.
   */
  readonly state: 'pending' | 'installing' | 'removing' | 'installed' | 'healthy' | 'failed';
  /** The desired release's id (null: no release, the package removed). */
  readonly releaseId: string | null;
  readonly message: string | null;
  readonly phase: string | null;
  /** The last lines of the install's output, secret values removed. */
  readonly log: string;
  readonly installed: ReleaseReport['installed'] | null;
  readonly reportedAt: Date | null;
}

/** The status of a host's desired release (see HostReleaseStatus); undefined for an unknown host. */
export async function hostReleaseStatus(db: Db, hostId: string): Promise<HostReleaseStatus | undefined> {
  const host = await getHost(db, hostId);
  if (!host) return undefined;
  const document = host.document as HostDocument;
  const report = host.report as AgentReport | null;
  const releaseId = document.release?.id ?? null;
  const release = report?.release;
  const base = {
    releaseId,
    message: null,
    phase: null,
    log: release?.log ?? '',
    installed: release?.installed ?? null,
    reportedAt: host.reported_at,
  };
  if (!report || !release) return { ...base, state: 'pending' };
  const onDesired = (release.id ?? null) === releaseId;
  if (onDesired && release.state === 'failed')
    return { ...base, state: 'failed', message: release.message, phase: release.phase ?? null };
  if (onDesired && (release.state === 'installing' || release.state === 'removing'))
    return { ...base, state: release.state, phase: release.phase ?? null };
  const done = releaseId === null ? release.state === 'none' : release.state === 'installed';
  if (!onDesired || !done) return { ...base, state: 'pending' };
  // Installed; healthy once the agent applied this revision and every process runs and passes its checks.
  const reported = new Map(report.processes.map((p) => [p.name, p]));
  const healthy =
    (report.appliedRevision ?? -1) >= host.revision &&
    document.processes.every((p) => {
      const r = reported.get(p.name);
      return r?.state === 'running' && (r.health.status === 'healthy' || r.health.status === 'none');
    });
  return { ...base, state: healthy ? 'healthy' : 'installed' };
}
