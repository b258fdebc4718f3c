import type { Registry } from 'prom-client';
import { artifactsMigrations, artifactsModule } from '../artifacts/index.ts';
import { auditMigrations, auditRoutes } from '../audit/index.ts';
import type { AnyRoute, Clock, Logger } from '../core/index.ts';
import { deploymentsMigrations, deploymentsModule } from '../deployments/index.ts';
import {
  agentCredentialAuthenticator,
  environmentsMigrations,
  environmentsModule,
  joinTokenAuthenticator,
} from '../environments/index.ts';
import { identityMigrations, identityRoutes } from '../identity/index.ts';
import type { JobQueue } from '../jobs/index.ts';
import { type Notifier, notificationRoutes, notificationsMigrations } from '../notifications/index.ts';
import { BUILD_STEPS, pipelinesMigrations, pipelinesModule } from '../pipelines/index.ts';
import { localProviderMigrations } from '../providers/index.ts';
import { replicationMigrations, replicationModule } from '../replication/index.ts';
import {
  createEnvelopeCipher,
  type SecretVault,
  secretsMigrations,
  secretsRoutes,
} from '../secrets/index.ts';
import type { MigrationSet, Store } from '../store/index.ts';
import type { MachineAuthenticator } from './route-pipeline.ts';

/** Background work a module keeps: started once every route exists, stopped before the job queue. */
export interface ModuleService {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Called once the server listens, with its URL (agents on this machine call back to it). */
  listening?(url: string): void;
}

/** The running control plane's parts, for modules that keep files or background work. */
export interface ModuleRuntime {
  readonly store: Store;
  readonly queue: JobQueue;
  readonly dataDir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The control plane's Prometheus registry, for modules that export metrics. */
  readonly metrics: Registry;
  /** The URL users and webhooks reach the server at, when configured. */
  readonly publicUrl?: string;
  addService(service: ModuleService): void;
}

/** What a module's routes may depend on. */
export interface ModuleContext {
  readonly runtime: ModuleRuntime;
  readonly clock: Clock;
  readonly sessionTtlMs: number;
  readonly loginRateLimitPerMinute: number;
  readonly secretVault: SecretVault;
  readonly notifier: Notifier;
  /** Pipeline runs built at once on this control plane. */
  readonly buildConcurrency?: number;
}

/** Every module's migrations, in the order they were written. Add a module here. */
export const MODULE_MIGRATIONS: readonly MigrationSet[] = [
  identityMigrations,
  auditMigrations,
  secretsMigrations,
  notificationsMigrations,
  artifactsMigrations,
  pipelinesMigrations,
  replicationMigrations,
  environmentsMigrations,
  localProviderMigrations,
  deploymentsMigrations,
];

/** Credentials modules issue to machines (host agents), checked by the request pipeline. Add a module here. */
export const MODULE_MACHINE_AUTHENTICATORS: readonly MachineAuthenticator[] = [
  agentCredentialAuthenticator,
  joinTokenAuthenticator,
];

/** Every module's routes. Add a module here. */
export function moduleRoutes(context: ModuleContext): AnyRoute[] {
  const environments = environmentsModule({ ...context.runtime, secretVault: context.secretVault });
  const deployments = deploymentsModule(context.runtime, {
    environments: environments.services,
    notifier: context.notifier,
    secretVault: context.secretVault,
  });
  return [
    ...environments,
    ...deployments.routes,
    ...identityRoutes({
      sessionTtlMs: context.sessionTtlMs,
      loginRateLimitPerMinute: context.loginRateLimitPerMinute,
      clock: context.clock,
    }),
    ...auditRoutes(),
    ...secretsRoutes({ vault: context.secretVault }),
    ...notificationRoutes({
      notifier: () => context.notifier,
      cipher: () => createEnvelopeCipher(context.secretVault, 'notifications'),
    }),
    ...artifactsModule({ ...context.runtime, secretVault: context.secretVault }),
    ...pipelinesModule({
      ...context.runtime,
      secretVault: context.secretVault,
      steps: [...BUILD_STEPS, ...deployments.pipelineSteps],
      ...(context.buildConcurrency ? { buildConcurrency: context.buildConcurrency } : {}),
    }),
    ...replicationModule({
      ...context.runtime,
      cipher: () => createEnvelopeCipher(context.secretVault, 'replication'),
      notifier: context.notifier,
    }),
  ];
}
