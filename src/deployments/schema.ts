import type { Generated } from 'kysely';
import { z } from 'zod';
import type { RolloutAction } from './plan.ts';
import type { AppLayout } from './release-layout.ts';
import { RolloutStrategy } from './strategy.ts';

/** Where a deployment is in its life. */
export const DeploymentState = {
  Pending: 'pending',
  Predeploy: 'predeploy',
  Rolling: 'rolling',
  Postdeploy: 'postdeploy',
  Verifying: 'verifying',
  Succeeded: 'succeeded',
  Failed: 'failed',
  RollingBack: 'rolling_back',
  RolledBack: 'rolled_back',
} as const;
export type DeploymentState = (typeof DeploymentState)[keyof typeof DeploymentState];

/** States in which a deployment still has work to do (a restarted control plane resumes them). */
export const ACTIVE_STATES: readonly DeploymentState[] = [
  'pending',
  'predeploy',
  'rolling',
  'postdeploy',
  'verifying',
  'rolling_back',
];

/** The .deb a release installs. */
export const ReleaseArtifact = z.object({
  name: z.string(),
  version: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The APT channel it is installed from (the environment's). */
  channel: z.string(),
});
export type ReleaseArtifact = z.infer<typeof ReleaseArtifact>;

export const Release = z.object({
  id: z.string(),
  number: z.number().int(),
  environment: z.string(),
  app: z.string(),
  version: z.string(),
  artifact: ReleaseArtifact,
  config: z.record(z.string(), z.string()),
  secretSetVersion: z.number().int().nullable(),
  reason: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
});
export type Release = z.infer<typeof Release>;

export const DeploymentEvent = z.object({
  at: z.string(),
  level: z.enum(['info', 'warn', 'error']),
  message: z.string(),
});
export type DeploymentEvent = z.infer<typeof DeploymentEvent>;

export const Deployment = z.object({
  id: z.string(),
  number: z.number().int(),
  environment: z.string(),
  app: z.string(),
  version: z.string(),
  previousVersion: z.string().nullable(),
  strategy: RolloutStrategy,
  state: z.enum([
    'pending',
    'predeploy',
    'rolling',
    'postdeploy',
    'verifying',
    'succeeded',
    'failed',
    'rolling_back',
    'rolled_back',
  ]),
  progress: z.object({ done: z.number().int(), total: z.number().int(), current: z.string().nullable() }),
  reason: z.string().nullable(),
  trigger: z.enum(['manual', 'pipeline', 'rollback']),
  requestedBy: z.string(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export type Deployment = z.infer<typeof Deployment>;

/** Tables owned by the deployments module. */
export interface DeploymentsTables {
  releases: {
    id: string;
    number: Generated<number>;
    environment: string;
    app: string;
    version: string;
    artifact: ReleaseArtifact;
    config: Record<string, string>;
    secret_set_version: number | null;
    reason: string | null;
    created_by: string;
    created_at: Generated<Date>;
  };
  deployments: {
    id: string;
    number: Generated<number>;
    environment: string;
    app: string;
    release_id: string;
    previous_release_id: string | null;
    strategy: RolloutStrategy;
    state: DeploymentState;
    instances: { host: string; serving: boolean }[];
    plan: RolloutAction[];
    next_action: Generated<number>;
    rollback_plan: RolloutAction[] | null;
    rollback_next: Generated<number>;
    reason: string | null;
    trigger: 'manual' | 'pipeline' | 'rollback';
    run_id: string | null;
    requested_by: string;
    created_at: Generated<Date>;
    started_at: Date | null;
    finished_at: Date | null;
    heartbeat_at: Date | null;
  };
  deployment_events: {
    id: Generated<number>;
    deployment_id: string;
    at: Generated<Date>;
    level: 'info' | 'warn' | 'error';
    message: string;
  };
  environment_releases: {
    environment: string;
    app: string;
    release_id: string;
    deployment_id: string | null;
    updated_at: Generated<Date>;
  };
  release_layouts: {
    app: string;
    version: string;
    layout: AppLayout;
    recorded_at: Generated<Date>;
  };
  release_verifications: {
    app: string;
    version: string;
    environment: string;
    outcome: 'passed' | 'failed';
    summary: Record<string, unknown> | null;
    at: Generated<Date>;
  };
}
