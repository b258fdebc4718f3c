import type { Kysely } from 'kysely';
import type pg from 'pg';
import { openArtifactRepository } from '../artifacts/index.ts';
import type { AnyRoute, Clock, Logger } from '../core/index.ts';
import type { JobQueue } from '../jobs/index.ts';
import type { SecretVault } from '../secrets/index.ts';
import { appSecretCipher } from './app-secrets.ts';
import type { PipelineStep } from './pipeline-step.ts';
import { pipelineRoutes } from './routes.ts';
import { PipelinesService } from './service.ts';

/** What the pipelines module needs from the running control plane. */
export interface PipelinesModuleOptions {
  readonly store: { readonly db: Kysely<any>; readonly pool: pg.Pool };
  readonly queue: JobQueue;
  /** Slipway's data directory: git mirrors and workspaces live under `pipelines/`, artifacts under `artifacts/`. */
  readonly dataDir: string;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** The URL webhooks reach this server at. */
  readonly publicUrl?: string;
  /** The steps of every run. @default BUILD_STEPS (Deployments appends its own) */
  readonly steps?: readonly PipelineStep[];
  /** Runs this control plane executes at once. @default 2 */
  readonly buildConcurrency?: number;
  /** The OS user builds run as. @default 'slipway-build' */
  readonly buildUser?: string;
  /** Registers background work with the server. */
  readonly addService?: (service: { name: string; start(): Promise<void>; stop(): Promise<void> }) => void;
  /** The secret store: seals apps' webhook and hook secrets at rest, and the APT signing key (see the artifacts module). */
  readonly secretVault: SecretVault;
  /** Receives the service once made (the Deployments module or a test may want it). */
  readonly onService?: (service: PipelinesService) => void;
}

/** The pipelines module in a running server: its routes, and the executor and poller as background work. */
export function pipelinesModule(options: PipelinesModuleOptions): AnyRoute[] {
  const service = new PipelinesService({
    db: options.store.db,
    pool: options.store.pool,
    queue: options.queue,
    artifacts: openArtifactRepository({ db: options.store.db, ...options }),
    secretCipher: appSecretCipher(options.secretVault),
    dataDir: options.dataDir,
    clock: options.clock,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.steps ? { steps: options.steps } : {}),
    ...(options.buildConcurrency ? { buildConcurrency: options.buildConcurrency } : {}),
    ...(options.buildUser ? { buildUser: options.buildUser } : {}),
  });
  options.addService?.({ name: 'pipelines', start: () => service.start(), stop: () => service.stop() });
  options.onService?.(service);
  return pipelineRoutes({ service, ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}) });
}
