import type { Kysely } from 'kysely';
import type { ArtifactRepository } from '../artifacts/index.ts';
import type { Clock, Logger } from '../core/index.ts';
import type { NetworkPolicy, TriggerKind } from './schema.ts';
import type { SlipwayFile } from './slipway-file.ts';

/** The run a step belongs to. */
export interface RunInfo {
  readonly id: string;
  readonly app: string;
  readonly number: number;
  readonly commit: string;
  readonly branch: string;
  readonly attempt: number;
  readonly trigger: TriggerKind;
  readonly triggeredBy: string | null;
}

/** The app a run builds (never its secrets). */
export interface AppInfo {
  readonly id: string;
  readonly name: string;
  readonly repository: string;
  readonly branch: string;
  /** The directory of slipway.yaml in the repository ("." for the root). */
  readonly path: string;
  readonly network: NetworkPolicy;
  readonly retentionKeep: number;
}

/** A command run in the build sandbox. */
export interface SandboxRun {
  /** A shell command line. */
  readonly command: string;
  /** What the log calls it. */
  readonly name?: string;
  readonly timeoutMs: number;
  readonly env?: Readonly<Record<string, string>>;
  /**
   * The network this command gets; only widens the app's policy (a regression suite must reach the
   * environment it tests). @default the app's policy
   */
  readonly network?: 'allowed';
}

/** The run's workspace: a fresh checkout, owned by the build user, and where outputs go. */
export interface BuildWorkspace {
  /** The checkout, on the host (mounted at /workspace in the sandbox). */
  readonly root: string;
  /** The app's directory (slipway.yaml's) on the host. */
  readonly appDir: string;
  /** Where steps write files for later steps (packages), on the host; never visible to builds. */
  readonly outDir: string;
  /**
   * Runs a command in the sandbox, in the app's directory, as the build user; output goes to the log.
   * @throws StepFailedError when it exits non-zero
   */
  run(command: SandboxRun): Promise<void>;
  /** Fetches the repository and writes the run's commit into `root` (as the build user). */
  checkout(): Promise<void>;
  /** A file of the run's commit, read from git (never through the workspace, which the build controls). */
  readCommitFile(path: string): Promise<string | undefined>;
  /** The base version of the newest `vX.Y.Z` tag the commit contains, or undefined. */
  latestVersionTag(): Promise<string | undefined>;
}

/** What the control plane lends a step. */
export interface PipelineServices {
  readonly artifacts: ArtifactRepository;
  readonly clock: Clock;
  readonly logger?: Logger;
}

/** What a step gets while it runs. */
export interface StepContext {
  readonly run: RunInfo;
  readonly app: AppInfo;
  /** The database (not in a transaction). */
  readonly db: Kysely<any>;
  /** Aborts on cancel, on the step's timeout and when the control plane stops. */
  readonly signal: AbortSignal;
  /** Appends text to the run's log under this step (secret values are redacted). */
  log(text: string): void;
  /** Outputs of earlier steps (of this attempt or, for durable steps, an earlier one), by step name. */
  readonly outputs: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Stores this step's outputs with the run (JSON). */
  setOutput(values: Record<string, unknown>): Promise<void>;
  /** The parsed slipway.yaml, once the checkout step read it. */
  readonly slipwayFile: SlipwayFile | undefined;
  readonly workspace: BuildWorkspace;
  readonly services: PipelineServices;
}

/**
 * One step of the pipeline. A run stores the names of its steps when it is queued; the executor runs
 * them in order and stops at the first failure. The Deployments module appends its own steps
 * (deploy to integration, integration tests, notify) after `publish`:
 *
 * ```ts
 * pipelinesModule({ ...options, steps: [...BUILD_STEPS, deployToIntegration, integrationTests, notify] })
 * ```
 */
export interface PipelineStep {
  /** Stable name, stored with runs: "publish". */
  readonly name: string;
  /** What people read: "Publish to the artifact repository". */
  readonly title: string;
  /**
   * Its effect outlives the workspace (publishing, deploying): when a run is retried after its
   * control plane stopped, a durable step that succeeded is not repeated, nor any step before it.
   */
  readonly durable?: boolean;
  /** How long it may take; slipway.yaml is known once the checkout step ran. */
  timeoutMs(slipwayFile: SlipwayFile | undefined): number;
  /**
   * Does the work; throws to fail the run (a SlipwayError's message and hint go to the log). Returns
   * 'skipped' when there was nothing to do (an app without a unit-test command).
   */
  run(context: StepContext): Promise<'skipped' | undefined>;
}
