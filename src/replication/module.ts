import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { AnyRoute, Clock, Logger } from '../core/index.ts';
import { replicationRoutes } from './routes.ts';
import { type AlertNotifier, ReplicationService, type SealingCipher } from './service.ts';

/** What the replication module takes from the running control plane. */
export interface ReplicationModuleOptions {
  readonly store: { readonly db: Kysely<any>; readonly pool: pg.Pool };
  /** Seals the links' connection strings (the secrets store's envelope cipher for "replication"). */
  readonly cipher: () => SealingCipher;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** The control plane's Prometheus registry, for the replication metrics. */
  readonly metrics?: Registry;
  /** Where lag alerts go. */
  readonly notifier?: AlertNotifier;
  /** Registers background work (the embedded appliers and the lag alert) with the server. */
  readonly addService?: (service: { name: string; start(): Promise<void>; stop(): Promise<void> }) => void;
  /** Receives the service once made (tests, and modules that build on replication). */
  readonly onService?: (service: ReplicationService) => void;
}

/** The replication module in a running server: its routes, with the service as background work. */
export function replicationModule(options: ReplicationModuleOptions): AnyRoute[] {
  const service = new ReplicationService({
    db: options.store.db,
    pool: options.store.pool,
    cipher: options.cipher,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.metrics ? { registry: options.metrics } : {}),
    ...(options.notifier ? { notifier: options.notifier } : {}),
  });
  options.addService?.({
    name: 'replication',
    start: async () => {
      service.start();
    },
    stop: () => service.stop(),
  });
  options.onService?.(service);
  return replicationRoutes(() => service);
}
