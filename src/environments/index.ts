/**
 * @module Environments as code: the DSL's model, whole-repository validation in a sandbox, plans and
 * applies (resumable, recorded with the repository commit), GitOps on the tracked branch, the host
 * registry agents authenticate against, and each environment's health.
 */
export { ApplyInterruptedError, findApply, listApplies, queueApply, runApply } from './applies.ts';
export {
  DefinitionProblemsError,
  EnvironmentNotDefinedError,
  EnvironmentNotFoundError,
  NoSourceError,
  PlanNotApplicableError,
  SourceUnavailableError,
} from './errors.ts';
export { type EvaluateOptions, evaluateRepository } from './evaluate/evaluate-repository.ts';
export { evaluateSourceHead, type SourceEvaluation } from './evaluate-source.ts';
export { checkSource, type GitOpsOutcome } from './gitops.ts';
export {
  type HostDocument,
  type SecretSource,
  type StoredProcess,
  type StoredRelease,
  type StoredTask,
  serveDocument,
  vaultSecretNames,
} from './host-documents.ts';
export {
  type HostReleaseChange,
  type HostReleaseStatus,
  hostReleaseStatus,
  setHostRelease,
} from './host-release.ts';
export { signalHostChange } from './host-signals.ts';
export {
  agentCredentialAuthenticator,
  findHost,
  getHost,
  type HostEvent,
  issueJoinToken,
  joinTokenAuthenticator,
  listHosts,
  revokeHostCredential,
  setHostDocument,
  updateHostDocument,
} from './hosts.ts';
export { environmentsMigrations } from './migrations.ts';
export { type DefinedEnvironment, DefinitionProblem, EnvironmentModel } from './model.ts';
export { type EnvironmentsRuntime, environmentsModule } from './module.ts';
export { findPlan, listPlans, PlanStatus, waitingPlan } from './plans.ts';
export { desiredResources, diffResources, plannedHosts } from './resources.ts';
export {
  appliedModel,
  EnvironmentRollout,
  type ReleaseLayout,
  type RolloutTargetOptions,
} from './rollout-target.ts';
export { environmentsRoutes } from './routes.ts';
export { Apply, EnvironmentSummary, EnvironmentView, HostView, Plan, Source } from './schema.ts';
export {
  type EnvironmentServices,
  type EnvironmentServicesContext,
  localRoot,
  startEnvironmentServices,
} from './service.ts';
export { getSource, setSource } from './source.ts';
export { AGENT_STALE_MS, environmentView } from './status.ts';
export { formatProblems, validateRepository } from './validate.ts';
