/**
 * @module Replication: trigger-based replication of a primary PostgreSQL to a replica on another
 * vendor — capture on the source, a snapshot-ordered applier next to the replica, table copies,
 * verify, schema changes, promotion and re-linking, status, metrics and a lag alert.
 */
export {
  Applier,
  type ApplierEvent,
  type ApplierOptions,
  type ApplierStatus,
  requestFromApplier,
} from './applier.ts';
export {
  ApplierRequestError,
  LinkDatabaseUnavailableError,
  LinkExistsError,
  LinkNotFoundError,
  LinkStateError,
  TablesNotReplicableError,
} from './errors.ts';
export {
  applyDdl,
  type DdlOptions,
  type InstalledLink,
  installLink,
  type TableSelection,
  uninstallLink,
} from './link-setup.ts';
export { replicationMigrations } from './migrations.ts';
export { type ReplicationModuleOptions, replicationModule } from './module.ts';
export { replicationRoutes } from './routes.ts';
export {
  CreateLinkBody,
  LinkDetail,
  LinkEvent,
  LinkHealth,
  LinkName,
  LinkSummary,
  LiveStatus,
  type ReplicationTables,
  VerifyResult,
} from './schema.ts';
export {
  type AlertNotifier,
  type LagAlert,
  ReplicationService,
  type ReplicationServiceOptions,
  type SealingCipher,
} from './service.ts';
export { type LinkStatus, readLinkStatus } from './status.ts';
export type { TableComparison } from './verify.ts';
