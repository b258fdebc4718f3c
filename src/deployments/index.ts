/** @module Deployments: releases, rollouts (rolling, blue-green, canary) with health gates and rollback, under the leader. */
export {
  activeDeployment,
  type DeployRequest,
  deploymentEvents,
  getDeployment,
  isFinished,
  listDeployments,
  requestDeployment,
  requestRollback,
} from './deployments.ts';
export {
  DeploymentInProgressError,
  DeploymentNotFoundError,
  PromotionRefusedError,
  RolloutActionError,
} from './errors.ts';
export { deploymentsMigrations } from './migrations.ts';
export { type DeploymentsModule, type DeploymentsRuntime, deploymentsModule } from './module.ts';
export { deploymentPipelineSteps, junitTotals, type PipelineStepsOptions } from './pipeline-steps.ts';
export {
  canaryWeights,
  nextHostNames,
  type PlannedInstance,
  planRollback,
  planRollout,
  type RolloutAction,
  type RolloutPlan,
} from './plan.ts';
export { type AppLayout, layoutFromSlipwayFile } from './release-layout.ts';
export {
  currentRelease,
  getLayout,
  getRelease,
  hasPassed,
  recordLayout,
  recordVerification,
} from './releases.ts';
export { deploymentRoutes } from './routes.ts';
export { runDeployment } from './runner.ts';
export {
  ACTIVE_STATES,
  Deployment,
  DeploymentEvent,
  DeploymentState,
  type DeploymentsTables,
  Release,
} from './schema.ts';
export { DeploymentsService, type DeploymentsServiceOptions } from './service.ts';
export { RolloutStrategy } from './strategy.ts';
export type { ReleaseRef, RolloutTarget, ServerCounters, TargetInstance } from './target.ts';
