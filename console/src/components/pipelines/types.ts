/**
 * What the pipelines and artifacts API answers, as the console reads it. These mirror the server's
 * zod schemas (src/pipelines/schema.ts, src/artifacts/schema.ts); keep them in step.
 */

/** A registered app. */
export interface App {
  readonly id: string;
  readonly name: string;
  readonly repository: string;
  readonly branch: string;
  readonly path: string;
  readonly network: 'allowed' | 'denied';
  readonly concurrency: number;
  readonly pollIntervalSeconds: number | null;
  readonly retentionKeep: number;
  readonly webhookUrl: string;
  readonly hookInstalled: boolean;
  readonly latestBuild: {
    readonly run: string;
    readonly number: number;
    readonly version: string;
    readonly at: string;
  } | null;
  readonly createdAt: string;
  readonly createdBy: string | null;
}

export type RunState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type StepState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'skipped';

/** One step of a run. */
export interface RunStep {
  readonly position: number;
  readonly name: string;
  readonly title: string;
  readonly state: StepState;
  readonly timeoutMs: number;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly error: string | null;
}

/** A pipeline run. */
export interface Run {
  readonly id: string;
  readonly app: string;
  readonly number: number;
  readonly commit: string;
  readonly branch: string;
  readonly trigger: string;
  readonly triggeredBy: string | null;
  readonly state: RunState;
  readonly attempt: number;
  readonly version: string | null;
  readonly error: string | null;
  readonly rerunOf: number | null;
  readonly supersededCommits: readonly string[];
  readonly cancelRequested: boolean;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly steps: readonly RunStep[];
}

/** A piece of a run's log. */
export interface LogChunk {
  readonly seq: number;
  readonly step: string | null;
  readonly at: string;
  readonly text: string;
}

/** What starting or re-running a run answers. */
export interface QueuedRun {
  readonly outcome: 'queued' | 'superseded' | 'duplicate';
  readonly run: Run;
  readonly message: string;
}

/** An artifact version. */
export interface Artifact {
  readonly id: string;
  readonly app: string;
  readonly package: string;
  readonly version: string;
  readonly architecture: string;
  readonly sha256: string;
  readonly size: number;
  readonly filename: string;
  readonly metadata: {
    readonly commit?: string;
    readonly branch?: string;
    readonly run?: string;
    readonly runNumber?: number;
    readonly buildTime?: string;
    readonly builder?: string;
  };
  readonly channels: readonly string[];
  readonly deployedTo: readonly string[];
  readonly createdAt: string;
  readonly createdBy: string | null;
}

/** An artifact with its control fields. */
export interface ArtifactDetails extends Artifact {
  readonly control: Readonly<Record<string, string>>;
}

/** A channel: an environment's APT repository. */
export interface Channel {
  readonly name: string;
  readonly revision: number;
  readonly artifacts: number;
  readonly updatedAt: string | null;
  readonly sourcesLine: string;
}
