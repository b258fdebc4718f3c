/**
 * What an agent reports about its host every few seconds and on every change: the processes, their
 * health, the tasks it ran, the release and basic host metrics. Never secret values.
 */

/** Where a supervised process is in its life. */
export const ProcessState = {
  Starting: 'starting',
  Running: 'running',
  Backoff: 'backoff',
  Stopping: 'stopping',
  Stopped: 'stopped',
  Failed: 'failed',
} as const;
export type ProcessState = (typeof ProcessState)[keyof typeof ProcessState];

/** What the last health checks said. */
export interface HealthReport {
  /** 'none' when the process has no check; 'unknown' until `rise` or `fall` checks in a row. */
  readonly status: 'none' | 'unknown' | 'healthy' | 'unhealthy';
  readonly checkedAt: string | null;
  readonly message: string | null;
}

/** One supervised process. */
export interface ProcessReport {
  readonly name: string;
  readonly state: ProcessState;
  /** The PID as the agent sees it (inside the host's PID namespace when sandboxed). */
  readonly pid: number | null;
  readonly startedAt: string | null;
  /** How many times it was started again after it exited on its own. */
  readonly restarts: number;
  readonly lastExit: {
    readonly code: number | null;
    readonly signal: string | null;
    readonly at: string;
  } | null;
  /** The delay before the next start, while in backoff. */
  readonly backoffMs: number;
  readonly nextStartAt: string | null;
  readonly health: HealthReport;
  readonly rssBytes: number | null;
  readonly message: string | null;
}

/** One task (a release hook). */
export interface TaskReport {
  readonly id: string;
  readonly name: string;
  readonly state: 'running' | 'succeeded' | 'failed';
  readonly exitCode: number | null;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  /** The last lines of its output, with secret values removed. */
  readonly output: string;
}

/** Where the release of a host is. */
export const ReleaseState = {
  /** No release: nothing was installed, or the package was removed. */
  None: 'none',
  /** The desired release is being fetched, installed, configured (env file, steps). */
  Installing: 'installing',
  /** The package of a null release is being removed. */
  Removing: 'removing',
  /** The desired release is installed, its env file written and its steps done. */
  Installed: 'installed',
  /** The desired release could not be installed; `installed` says what the host runs instead. */
  Failed: 'failed',
} as const;
export type ReleaseState = (typeof ReleaseState)[keyof typeof ReleaseState];

/**
 * The release of a host: the one the agent works on (the desired one) and the one installed now.
 * The control plane waits for `state` "installed" with `id` its release's id, then for healthy
 * processes; "failed" comes with the reason and the install log's tail.
 */
export interface ReleaseReport {
  readonly state: ReleaseState;
  /** The desired release's id (null for none). Absent from agents older than the APT installer. */
  readonly id?: string | null;
  /** The desired release's version. */
  readonly version: string | null;
  /** Why it failed (a maintainer script's own message included), when it did. */
  readonly message: string | null;
  /** What the install is doing now: "fetch", "stop", "install", "env-file", "steps", "start", "rollback". */
  readonly phase?: string | null;
  /** The last lines of the install's output (apt, dpkg, maintainer scripts, steps), secret values removed. */
  readonly log?: string;
  readonly startedAt?: string | null;
  readonly finishedAt?: string | null;
  /** The release the host has installed now: after a failure, the previous one it went back to. */
  readonly installed?: {
    readonly id: string;
    readonly version: string;
    /** The Debian package and the version dpkg has. */
    readonly package: string;
    readonly packageVersion: string;
  } | null;
}

/** Host metrics. */
export interface HostMetrics {
  readonly cpuPercent: number | null;
  readonly loadAverage: readonly number[];
  readonly memory: {
    readonly totalBytes: number;
    readonly availableBytes: number;
    readonly usedPercent: number;
  };
  readonly uptimeSeconds: number;
}

/** Everything an agent reports. */
export interface AgentReport {
  readonly schemaVersion: 1;
  readonly agent: {
    readonly version: string;
    /** Random per agent start: a new value means the agent restarted. */
    readonly instance: string;
    readonly startedAt: string;
    readonly pid: number;
    readonly rssBytes: number;
  };
  readonly at: string;
  /** The newest revision the agent has converged to (every process started). */
  readonly appliedRevision: number | null;
  /** Why the newest revision could not be applied, if so. */
  readonly error: string | null;
  readonly release: ReleaseReport;
  readonly processes: readonly ProcessReport[];
  readonly tasks: readonly TaskReport[];
  readonly metrics: HostMetrics;
}
