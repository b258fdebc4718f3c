import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { AnyRoute, Clock, Logger } from '../core/index.ts';
import type { SecretVault } from '../secrets/index.ts';
import { environmentsRoutes } from './routes.ts';
import { type EnvironmentServices, startEnvironmentServices } from './service.ts';

/** What the module needs from the running control plane. */
export interface EnvironmentsRuntime {
  readonly store: { readonly db: Kysely<any>; readonly pool: pg.Pool };
  readonly dataDir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The secret store: agents receive their release's vault secrets, resolved when served. */
  readonly secretVault?: SecretVault;
  addService(service: {
    readonly name: string;
    start(): Promise<void>;
    stop(): Promise<void>;
    listening?(url: string): void;
  }): void;
}

/** The URL agents on this machine use: a wildcard listen address becomes loopback. */
function localUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.hostname === '0.0.0.0') parsed.hostname = '127.0.0.1';
  if (parsed.hostname === '[::]') parsed.hostname = '[::1]';
  return parsed.origin;
}

/**
 * The environments module: its routes, and its background work (plans, GitOps, applies, keeping
 * local environments up), which starts once the server listens.
 */
export function environmentsModule(
  runtime: EnvironmentsRuntime,
): AnyRoute[] & { services: () => Promise<EnvironmentServices> } {
  let services: Promise<EnvironmentServices> | undefined;
  let resolveServices: (value: EnvironmentServices) => void = () => undefined;
  const ready = new Promise<EnvironmentServices>((resolve) => {
    resolveServices = resolve;
  });
  // Services stop before the HTTP server closes: aborting this first lets agents' long polls
  // answer at once, so closing does not wait up to their 20 s.
  const shutdown = new AbortController();
  runtime.addService({
    name: 'environments',
    start: async () => undefined,
    listening: (url) => {
      services = startEnvironmentServices({ ...runtime, url: localUrl(url) });
      void services.then(resolveServices);
    },
    stop: async () => {
      shutdown.abort();
      await (await services)?.stop();
    },
  });
  // The routes, and (for the Deployments module) the running services once the server listens.
  const routes = environmentsRoutes({
    clock: runtime.clock,
    shutdown: shutdown.signal,
    ...(runtime.secretVault ? { secretVault: runtime.secretVault } : {}),
  });
  return Object.assign(routes, { services: () => ready });
}
