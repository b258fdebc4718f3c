/**
 * What the deployments API answers, as the console reads it. These mirror the server's zod schemas
 * (src/deployments/schema.ts, src/deployments/strategy.ts); keep them in step.
 */

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

/** The strategy names a deploy may ask for. */
export const STRATEGY_NAMES = ['rolling', 'blue-green', 'canary'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** How a release replaces the running one (the server fills the options it is not given). */
export type RolloutStrategy =
  | {
      readonly strategy: 'rolling';
      readonly batchSize?: number;
      readonly maxSurge?: number;
      readonly maxUnavailable?: number;
    }
  | { readonly strategy: 'blue-green'; readonly keepOldMs?: number }
  | {
      readonly strategy: 'canary';
      readonly steps?: readonly number[];
      readonly pauseMs?: number;
      readonly maxErrorRatePercent?: number;
      readonly maxLatencyMs?: number;
    };

/** A deployment: `GET /api/deployments/:number`. */
export interface Deployment {
  readonly id: string;
  readonly number: number;
  readonly environment: string;
  readonly app: string;
  readonly version: string;
  readonly previousVersion: string | null;
  readonly strategy: RolloutStrategy;
  readonly state: DeploymentState;
  /** Steps of the plan done, of how many, and the one in progress (the rollback's once it rolls back). */
  readonly progress: { readonly done: number; readonly total: number; readonly current: string | null };
  readonly reason: string | null;
  readonly trigger: 'manual' | 'pipeline' | 'rollback';
  readonly requestedBy: string;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

/** A line of a deployment's log: `GET /api/deployments/:number/events?after=ID`. */
export interface DeploymentEvent {
  readonly id: number;
  readonly at: string;
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
}

/**
 * Whether a deployment has ended. A deployment passes through "failed" on its way to rolling back,
 * so a failure is final only once it has a finish time.
 */
export function isFinished(deployment: Pick<Deployment, 'state' | 'finishedAt'>): boolean {
  if (deployment.state === 'succeeded' || deployment.state === 'rolled_back') return true;
  return deployment.state === 'failed' && deployment.finishedAt !== null;
}

/** A strategy in a few words: "rolling (batches of 1)", "canary 10 → 50 → 100 %". */
export function describeStrategy(strategy: RolloutStrategy): string {
  switch (strategy.strategy) {
    case 'rolling':
      return strategy.batchSize ? `rolling (batches of ${strategy.batchSize})` : 'rolling';
    case 'blue-green':
      return 'blue-green';
    case 'canary':
      return strategy.steps ? `canary ${strategy.steps.join(' → ')} %` : 'canary';
  }
}
