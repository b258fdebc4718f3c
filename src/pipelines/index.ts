/** @module Pipelines: apps, triggers (webhooks, the git hook, polling), runs and their steps, the build sandbox. */
export { type AppSecretCipher, type AppSecretKind, AppSecrets, appSecretCipher } from './app-secrets.ts';
export { type AppRow, createApp, findApp, toApp, webhookPath } from './apps.ts';
export {
  BUILD_STEPS,
  buildEnvironment,
  type CheckoutOutput,
  type PackageOutput,
  type PublishOutput,
} from './build-steps.ts';
export {
  AppBusyError,
  AppExistsError,
  AppNotFoundError,
  AppSecretsSealedError,
  RunFinishedError,
  RunNotFoundError,
  StepFailedError,
  WebhookSignatureError,
} from './errors.ts';
export { RUN_QUEUE, RunExecutor, type RunExecutorOptions } from './executor.ts';
export { formatMs } from './format-ms.ts';
export { type GitOptions, git } from './git.ts';
export { pipelinesMigrations } from './migrations.ts';
export { type PipelinesModuleOptions, pipelinesModule } from './module.ts';
export type {
  AppInfo,
  BuildWorkspace,
  PipelineServices,
  PipelineStep,
  RunInfo,
  SandboxRun,
  StepContext,
} from './pipeline-step.ts';
export {
  HOOK_MARKER,
  HOOK_SECRET_FILE,
  installPostReceiveHook,
  renderPostReceiveHook,
} from './post-receive-hook.ts';
export { type PipelineRouteOptions, pipelineRoutes } from './routes.ts';
export { recoverStaleRuns } from './run-lifecycle.ts';
export { type LogRedactor, RunEvents } from './run-log.ts';
export type { QueueRunResult } from './runs.ts';
export {
  type BuildUser,
  DEFAULT_BUILD_USER,
  ensureBuildUser,
  runInSandbox,
  type SandboxCommand,
  type SandboxResult,
  type SandboxSpec,
  sandboxArguments,
} from './sandbox.ts';
export {
  App,
  AppName,
  AppSettings,
  AppSettingsChange,
  CreateAppBody,
  LogChunk,
  NetworkPolicy,
  Run,
  RunState,
  RunStep,
  StepState,
  TriggerKind,
} from './schema.ts';
export { PipelinesService, type PipelinesServiceOptions, type RunEvent } from './service.ts';
export {
  parseSlipwayFile,
  SLIPWAY_FILE,
  SlipwayFile,
  SlipwayFileError,
  type SlipwayFileProblem,
} from './slipway-file.ts';
export {
  detectWebhookSource,
  parseWebhookEvent,
  type RefUpdate,
  verifyWebhook,
  type WebhookEvent,
  type WebhookSource,
  webhookSignature,
} from './webhooks.ts';
