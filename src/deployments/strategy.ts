import { z } from 'zod';

/**
 * How a release replaces the running one. The same shape as an environment definition's deploy
 * defaults (`deploy` in the environment model), so a definition's default and a per-deploy choice
 * are interchangeable.
 */
export const RolloutStrategy = z.discriminatedUnion('strategy', [
  z.strictObject({
    strategy: z.literal('rolling'),
    /** Hosts replaced together. */
    batchSize: z.number().int().min(1).max(100).default(1),
    /** Extra hosts allowed during the rollout (0: upgrade in place). */
    maxSurge: z.number().int().min(0).max(100).default(1),
    /** Hosts allowed out of service at once (only used when maxSurge is 0). */
    maxUnavailable: z.number().int().min(0).max(100).default(0),
  }),
  z.strictObject({
    strategy: z.literal('blue-green'),
    /** How long the old set stays up after the switch, for an instant rollback. */
    keepOldMs: z.number().int().min(0).max(86_400_000).default(60_000),
  }),
  z.strictObject({
    strategy: z.literal('canary'),
    /** Traffic percentages the canary takes, in order. */
    steps: z.array(z.number().int().min(1).max(100)).min(1).max(10).default([10, 50, 100]),
    /** Time at each step before its gate is checked. */
    pauseMs: z.number().int().min(0).max(3_600_000).default(30_000),
    /** Highest share of 5xx answers from the canary during a step. */
    maxErrorRatePercent: z.number().min(0).max(100).default(1),
    /** Highest average response time of the canary during a step. */
    maxLatencyMs: z.number().int().min(0).default(1000),
  }),
]);
export type RolloutStrategy = z.infer<typeof RolloutStrategy>;
