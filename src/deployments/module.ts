import type { Kysely } from 'kysely';
import type pg from 'pg';
import { openArtifactRepository } from '../artifacts/index.ts';
import type { AnyRoute, Clock, Logger } from '../core/index.ts';
import type { EnvironmentServices } from '../environments/index.ts';
import type { Notifier } from '../notifications/index.ts';
import type { PipelineStep } from '../pipelines/index.ts';
import type { SecretVault } from '../secrets/index.ts';
import { deploymentPipelineSteps } from './pipeline-steps.ts';
import { deploymentRoutes } from './routes.ts';
import { DeploymentsService } from './service.ts';

/** What the deployments module needs from the running control plane. */
export interface DeploymentsRuntime {
  readonly store: { readonly db: Kysely<any>; readonly pool: pg.Pool };
  readonly dataDir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly publicUrl?: string;
  addService(service: { readonly name: string; start(): Promise<void>; stop(): Promise<void> }): void;
}

/** The module's routes, and its service for the pipeline (deploy to integration after a build). */
export interface DeploymentsModule {
  readonly routes: AnyRoute[];
  readonly service: DeploymentsService;
  /** The steps appended to every pipeline run after `publish`. */
  readonly pipelineSteps: PipelineStep[];
}

/** The deployments module: releases, rollouts under the leader, and their API. */
export function deploymentsModule(
  runtime: DeploymentsRuntime,
  options: {
    environments: () => Promise<EnvironmentServices>;
    notifier?: Notifier;
    secretVault?: SecretVault;
  },
): DeploymentsModule {
  const artifacts = openArtifactRepository({
    db: runtime.store.db,
    dataDir: runtime.dataDir,
    clock: runtime.clock,
    logger: runtime.logger,
    ...(options.secretVault ? { secretVault: options.secretVault } : {}),
  });
  const service = new DeploymentsService({
    db: runtime.store.db,
    pool: runtime.store.pool,
    clock: runtime.clock,
    logger: runtime.logger.child({ module: 'deployments' }),
    environments: options.environments,
    artifacts,
    ...(options.notifier ? { notifier: options.notifier } : {}),
    ...(runtime.publicUrl ? { publicUrl: runtime.publicUrl } : {}),
  });
  runtime.addService({
    name: 'deployments',
    start: async () => service.start(),
    stop: () => service.stop(),
  });
  return {
    routes: deploymentRoutes({ artifacts }),
    service,
    pipelineSteps: deploymentPipelineSteps({
      db: runtime.store.db,
      service,
      artifacts,
      clock: runtime.clock,
      ...(options.notifier ? { notifier: options.notifier } : {}),
      ...(runtime.publicUrl ? { publicUrl: runtime.publicUrl } : {}),
    }),
  };
}
