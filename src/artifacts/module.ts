import { join, resolve } from 'node:path';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { AnyRoute, Clock, Logger } from '../core/index.ts';
import { startSingletonLoop } from '../jobs/index.ts';
import { createEnvelopeCipher, type SecretVault } from '../secrets/index.ts';
import { ArtifactRepository } from './repository.ts';
import { artifactRoutes } from './routes.ts';
import type { SigningKeyEnvelope } from './signing-key.ts';

/** Background work a module hands the server: started once routes exist, stopped before the queue. */
export interface BackgroundService {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** What the artifacts module needs from the running control plane. */
export interface ArtifactsModuleOptions {
  readonly store: { readonly db: Kysely<any>; readonly pool: pg.Pool };
  /** Slipway's data directory; artifacts live in `artifacts/` under it. */
  readonly dataDir: string;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** The URL clients reach this server at (sources lines). */
  readonly publicUrl?: string;
  /** Registers background work with the server. */
  readonly addService?: (service: BackgroundService) => void;
  /** The secret store: when unsealed, the APT signing key is sealed at rest with its envelope encryption. */
  readonly secretVault?: SecretVault;
}

/** The signing key's envelope: the secrets module's cipher for the "artifacts" scope. */
export function signingKeyEnvelope(vault: SecretVault): SigningKeyEnvelope {
  const cipher = createEnvelopeCipher(vault, 'artifacts');
  return {
    seal: (plaintext, context) => cipher.seal(plaintext, context),
    open: (token, context) => cipher.open(token, context),
    sealed: () => vault.status().sealed,
  };
}

/** Opens the artifact repository of a data directory (files in `<dataDir>/artifacts`). */
export function openArtifactRepository(options: {
  readonly db: Kysely<any>;
  readonly dataDir: string;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly secretVault?: SecretVault;
}): ArtifactRepository {
  return new ArtifactRepository({
    db: options.db,
    dir: join(resolve(options.dataDir), 'artifacts'),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.secretVault ? { keyEnvelope: signingKeyEnvelope(options.secretVault) } : {}),
  });
}

/** The artifacts module in a running server: its routes, and garbage collection as a leader loop. */
export function artifactsModule(options: ArtifactsModuleOptions): AnyRoute[] {
  const repository = openArtifactRepository({ db: options.store.db, ...options });
  let stop: (() => Promise<void>) | undefined;
  options.addService?.({
    name: 'artifacts',
    async start() {
      const loop = startSingletonLoop(options.store.pool, {
        name: 'artifacts-gc',
        intervalMs: 3_600_000,
        ...(options.logger ? { logger: options.logger } : {}),
        run: async () => {
          const removed = await repository.collectGarbage();
          if (removed.blobs + removed.temporary > 0)
            options.logger?.info(removed, 'artifact garbage collected');
        },
      });
      stop = () => loop.stop();
    },
    async stop() {
      await stop?.();
    },
  });
  return artifactRoutes({ repository, ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}) });
}
