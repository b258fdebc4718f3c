import type { Generated } from 'kysely';
import { z } from 'zod';

/** An app's name: lowercase letters, digits and "-", starting with a letter. */
export const AppName = z
  .string()
  .min(2, 'use at least 2 characters')
  .max(63, 'use at most 63 characters')
  .regex(/^[a-z][a-z0-9-]*$/, 'use lowercase letters, digits and "-", starting with a letter');

/** A git branch name as Slipway tracks it ("master", "release/1.x"). */
export const BranchName = z
  .string()
  .min(1)
  .max(200)
  .regex(
    /^(?!\/|.*\/\/|.*\/$|.*\.\.|.*\.lock$|.*@\{|-)[A-Za-z0-9._/-]+$/,
    'use a git branch name, like "master" or "release/1.x"',
  );

/** Where the repository is: an https/ssh/git/file URL, "user@host:path", or an absolute local path. */
export const RepositoryUrl = z
  .string()
  .min(1)
  .max(2000)
  .refine(
    (url) =>
      /^(https?|ssh|git|file):\/\/[^\s]+$/.test(url) ||
      /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$/.test(url) ||
      /^\/[^\s]*$/.test(url),
    'use an https://, ssh://, git:// or file:// URL, "git@host:owner/repo.git", or an absolute path to a repository on the server',
  );

/** A full commit id. */
export const CommitId = z.string().regex(/^[0-9a-f]{40}$/, 'use a full 40-character commit id');

/** How a build may reach the network. */
export const NetworkPolicy = z.enum(['allowed', 'denied']);
export type NetworkPolicy = z.infer<typeof NetworkPolicy>;

/** States a run moves through. */
export const RunState = {
  Queued: 'queued',
  Running: 'running',
  Succeeded: 'succeeded',
  Failed: 'failed',
  Cancelled: 'cancelled',
} as const;
export type RunState = (typeof RunState)[keyof typeof RunState];
export const RUN_STATES = Object.values(RunState) as [RunState, ...RunState[]];
/** States a run never leaves. */
export const FINISHED_RUN_STATES: readonly RunState[] = ['succeeded', 'failed', 'cancelled'];

/** States a step moves through. */
export const StepState = {
  Pending: 'pending',
  Running: 'running',
  Succeeded: 'succeeded',
  Failed: 'failed',
  Cancelled: 'cancelled',
  Skipped: 'skipped',
} as const;
export type StepState = (typeof StepState)[keyof typeof StepState];

/** What started a run. */
export const TriggerKind = z.enum(['github', 'gitlab', 'gitea', 'git-hook', 'poll', 'manual', 'rerun']);
export type TriggerKind = z.infer<typeof TriggerKind>;

/** A registered app, as the API shows it (never its secrets). */
export const App = z.object({
  id: z.string(),
  name: z.string(),
  repository: z.string(),
  branch: z.string(),
  path: z.string(),
  network: NetworkPolicy,
  concurrency: z.number().int(),
  pollIntervalSeconds: z.number().int().nullable(),
  retentionKeep: z.number().int(),
  webhookUrl: z.string(),
  hookInstalled: z.boolean(),
  latestBuild: z
    .object({ run: z.string(), number: z.number().int(), version: z.string(), at: z.string() })
    .nullable(),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
});
export type App = z.infer<typeof App>;

const AppPath = z
  .string()
  .max(500)
  .regex(/^(\.|[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*)$/, 'use a relative directory like "." or "apps/web"')
  .refine((p) => !p.split('/').includes('..'), 'use a directory inside the repository');
const Concurrency = z.number().int().min(1).max(20);
const PollInterval = z.number().int().min(10).max(86_400).nullable();
const RetentionKeep = z.number().int().min(1).max(10_000);

/** Settings of an app, given at creation (with these defaults). */
export const AppSettings = z.strictObject({
  /** @default 'master' */
  branch: BranchName.default('master'),
  /** The directory of slipway.yaml in the repository. @default '.' */
  path: AppPath.default('.'),
  /** @default 'allowed' (a typical build fetches dependencies from a registry) */
  network: NetworkPolicy.default('allowed'),
  /** Runs of this app at once. @default 1 */
  concurrency: Concurrency.default(1),
  /** Poll the repository this often, as a fallback to webhooks; null turns polling off. @default null */
  pollIntervalSeconds: PollInterval.default(null),
  /** Versions kept by retention besides those promoted or deployed. @default 20 */
  retentionKeep: RetentionKeep.default(20),
});
export type AppSettings = z.infer<typeof AppSettings>;

/** A change of settings: only the fields given change. */
export const AppSettingsChange = z.strictObject({
  branch: BranchName.optional(),
  path: AppPath.optional(),
  network: NetworkPolicy.optional(),
  concurrency: Concurrency.optional(),
  pollIntervalSeconds: PollInterval.optional(),
  retentionKeep: RetentionKeep.optional(),
});
export type AppSettingsChange = z.infer<typeof AppSettingsChange>;

/** The body of "create an app". */
export const CreateAppBody = AppSettings.extend({ name: AppName, repository: RepositoryUrl });
export type CreateAppBody = z.infer<typeof CreateAppBody>;

/** One step of a run. */
export const RunStep = z.object({
  position: z.number().int(),
  name: z.string(),
  title: z.string(),
  state: z.enum(['pending', 'running', 'succeeded', 'failed', 'cancelled', 'skipped']),
  timeoutMs: z.number().int(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  error: z.string().nullable(),
});
export type RunStep = z.infer<typeof RunStep>;

/** A run, as the API shows it. */
export const Run = z.object({
  id: z.string(),
  app: z.string(),
  number: z.number().int(),
  commit: z.string(),
  branch: z.string(),
  trigger: TriggerKind,
  triggeredBy: z.string().nullable(),
  state: z.enum(RUN_STATES),
  attempt: z.number().int(),
  version: z.string().nullable(),
  error: z.string().nullable(),
  rerunOf: z.number().int().nullable(),
  supersededCommits: z.array(z.string()),
  cancelRequested: z.boolean(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  steps: z.array(RunStep),
  outputs: z.record(z.string(), z.unknown()),
});
export type Run = z.infer<typeof Run>;

/** One stored piece of a run's log. */
export const LogChunk = z.object({
  seq: z.number().int(),
  step: z.string().nullable(),
  at: z.string(),
  text: z.string(),
});
export type LogChunk = z.infer<typeof LogChunk>;

// ---- Tables ----------------------------------------------------------------------------------

export interface PipelineAppsTable {
  id: string;
  name: string;
  repository: string;
  branch: string;
  path: string;
  network: NetworkPolicy;
  concurrency: number;
  poll_interval_seconds: number | null;
  retention_keep: number;
  /** HMAC key of provider webhooks, sealed (an envelope token of the secrets module, "pipelines"). */
  sealed_webhook_secret: string | null;
  /** HMAC key of the post-receive hook, sealed; null until a hook was installed. */
  sealed_hook_secret: string | null;
  /** A webhook secret stored before secrets were sealed; sealed and cleared once the store is unsealed. */
  plain_webhook_secret: string | null;
  /** A hook secret stored before secrets were sealed; sealed and cleared once the store is unsealed. */
  plain_hook_secret: string | null;
  last_polled_at: Date | null;
  last_polled_commit: string | null;
  latest_run_id: string | null;
  latest_run_number: number | null;
  latest_version: string | null;
  latest_built_at: Date | null;
  created_at: Generated<Date>;
  created_by: string | null;
}

export interface PipelineBuildNumbersTable {
  app: string;
  last_build: number;
}

export interface PipelineRunsTable {
  id: string;
  app_id: string;
  app: string;
  number: number;
  commit: string;
  branch: string;
  trigger: TriggerKind;
  triggered_by: string | null;
  state: RunState;
  attempt: number;
  version: string | null;
  error: string | null;
  rerun_of: number | null;
  superseded_commits: string[];
  cancel_requested: boolean;
  outputs: Record<string, unknown>;
  runner: string | null;
  /** The queue job dispatched for its current attempt. */
  job_id: string | null;
  heartbeat_at: Date | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface PipelineRunStepsTable {
  run_id: string;
  position: number;
  name: string;
  title: string;
  state: StepState;
  timeout_ms: number;
  started_at: Date | null;
  finished_at: Date | null;
  error: string | null;
}

export interface PipelineRunLogsTable {
  run_id: string;
  seq: Generated<string | number>;
  step: string | null;
  at: Date;
  text: string;
}

/** The pipelines module's tables. */
export interface PipelineTables {
  pipeline_apps: PipelineAppsTable;
  pipeline_build_numbers: PipelineBuildNumbersTable;
  pipeline_runs: PipelineRunsTable;
  pipeline_run_steps: PipelineRunStepsTable;
  pipeline_run_logs: PipelineRunLogsTable;
}
