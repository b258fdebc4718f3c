/**
 * The provider-neutral environment model as the control plane trusts it: zod schemas for the JSON
 * the DSL produces (checked again here, because it comes out of a sandbox that ran repository code),
 * and the types every other part of the module works with.
 */
import { z } from 'zod';
import type { EnvironmentJson } from './dsl/index.ts';

const name = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'use a-z, 0-9 and "-", starting with a letter');
const sqlName = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'use a-z, 0-9 and "_"');
const variable = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'use letters, digits and "_"');
const port = z.number().int().min(1).max(65_535);
const subject = z
  .string()
  .regex(/^(user|group):[a-z][a-z0-9._-]{1,62}$/, 'write "user:NAME" or "group:NAME"');

export const ProviderModel = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('local'), vendor: z.literal('local') }),
  z.strictObject({ kind: z.literal('aws'), vendor: z.literal('aws'), region: z.string().min(1) }),
  z.strictObject({
    kind: z.literal('gcp'),
    vendor: z.literal('gcp'),
    region: z.string().min(1),
    project: z.string().nullable(),
  }),
]);
export type ProviderModel = z.infer<typeof ProviderModel>;

export const HealthCheckModel = z.strictObject({
  path: z.string().regex(/^\/\S*$/),
  intervalMs: z.number().int().min(100),
  timeoutMs: z.number().int().min(10),
  rise: z.number().int().min(1).max(10),
  fall: z.number().int().min(1).max(10),
});
export type HealthCheckModel = z.infer<typeof HealthCheckModel>;

export const InstanceSizeModel = z.strictObject({
  name: z.string(),
  vcpus: z.number().min(0.25).max(64),
  memoryMiB: z.number().int().min(1),
});
export type InstanceSizeModel = z.infer<typeof InstanceSizeModel>;

export const ScalingModel = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('fixed'), count: z.number().int().min(1).max(100) }),
  z.strictObject({
    mode: z.literal('auto'),
    min: z.number().int().min(1).max(100),
    max: z.number().int().min(1).max(100),
    targetCpuPercent: z.number().min(1).max(100),
  }),
]);
export type ScalingModel = z.infer<typeof ScalingModel>;

export const PlacementModel = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('dedicated'), zones: z.array(z.string()) }),
  z.strictObject({ mode: z.literal('with'), service: name }),
]);
export type PlacementModel = z.infer<typeof PlacementModel>;

export const ServiceModel = z.strictObject({
  name,
  app: name.nullable(),
  processType: z.string().regex(/^[a-z][a-z0-9_-]{0,30}$/),
  command: z.array(z.string()).min(1).nullable(),
  port: port.nullable(),
  size: InstanceSizeModel,
  scaling: ScalingModel,
  placement: PlacementModel,
  healthCheck: HealthCheckModel.nullable(),
  env: z.record(variable, z.string()),
  secrets: z.record(variable, z.string()),
  database: z.strictObject({ database: sqlName, role: sqlName }).nullable(),
  stopTimeoutMs: z.number().int().min(0).max(3_600_000),
});
export type ServiceModel = z.infer<typeof ServiceModel>;

export const LoadBalancerModel = z.strictObject({
  name,
  service: name,
  ports: z.array(port).min(1),
  healthCheck: HealthCheckModel,
});
export type LoadBalancerModel = z.infer<typeof LoadBalancerModel>;

export const DatabaseModel = z.strictObject({
  name,
  engine: z.literal('postgresql'),
  version: z.number().int(),
  size: InstanceSizeModel,
  storageGiB: z.number().positive(),
  databases: z.array(z.strictObject({ name: sqlName, owner: sqlName })).min(1),
  roles: z.array(z.strictObject({ name: sqlName, databases: z.array(sqlName) })).min(1),
  replica: z.strictObject({ provider: ProviderModel }).nullable(),
});
export type DatabaseModel = z.infer<typeof DatabaseModel>;

export const DeployStrategyModel = z.discriminatedUnion('strategy', [
  z.strictObject({
    strategy: z.literal('rolling'),
    batchSize: z.number().int().min(1),
    maxSurge: z.number().int().min(0),
    maxUnavailable: z.number().int().min(0),
  }),
  z.strictObject({ strategy: z.literal('blue-green'), keepOldMs: z.number().int().min(0) }),
  z.strictObject({
    strategy: z.literal('canary'),
    steps: z.array(z.number().int().min(1).max(100)).min(1),
    pauseMs: z.number().int().min(0),
    maxErrorRatePercent: z.number().min(0).max(100),
    maxLatencyMs: z.number().int().min(0),
  }),
]);
export type DeployStrategyModel = z.infer<typeof DeployStrategyModel>;

/** One environment as the control plane trusts it. */
export const EnvironmentModel = z.strictObject({
  schemaVersion: z.literal(1),
  name,
  provider: ProviderModel,
  tier: z.enum(['minimal', 'standard']),
  approval: z.enum(['automatic', 'admin']),
  config: z.record(variable, z.string()),
  secrets: z.array(z.string()),
  access: z.strictObject({ admins: z.array(subject), deployers: z.array(subject) }),
  deploy: DeployStrategyModel,
  /** Which versions it takes: those that passed `requires` first, or any. */
  promotion: z.strictObject({ requires: name.nullable() }).default({ requires: null }),
  services: z.array(ServiceModel),
  loadBalancer: LoadBalancerModel.nullable(),
  database: DatabaseModel.nullable(),
});
export type EnvironmentModel = z.infer<typeof EnvironmentModel>;

/** One problem in an infrastructure repository: the file, the property path, the value, what and how to fix. */
export const DefinitionProblem = z.object({
  file: z.string(),
  path: z.string(),
  value: z.unknown().optional(),
  message: z.string(),
  fix: z.string(),
});
export type DefinitionProblem = z.infer<typeof DefinitionProblem>;

/** An environment the repository defines, with the file it came from. */
export interface DefinedEnvironment {
  readonly file: string;
  readonly model: EnvironmentModel;
}

// The DSL's output type and the trusted model must stay the same shape.
type Assignable<A, B extends A> = B;
export type _DslOutputFitsTheModel = Assignable<EnvironmentModel, MutableDeep<EnvironmentJson>>;
type MutableDeep<T> = T extends readonly (infer U)[]
  ? MutableDeep<U>[]
  : T extends object
    ? { -readonly [K in keyof T]: MutableDeep<T[K]> }
    : T;
