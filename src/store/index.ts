/** @module The store: PostgreSQL access, migrations, and PostgreSQL clusters on this machine. */
export {
  type ConnectionSettings,
  type Database,
  type DatabaseOptions,
  dedicatedClientConfig,
  endpointUrl,
  inTransaction,
  openDatabase,
  survivingLostConnections,
  toPgConfig,
} from './database.ts';
export { type MigrateResult, type Migration, type MigrationSet, migrateToLatest } from './migrations.ts';
export {
  CLUSTER_OS_USER,
  type ClusterEndpoint,
  findUnreachableAncestor,
  POSTGRES_BIN,
  PostgresCluster,
  type PostgresClusterOptions,
} from './postgres-cluster.ts';
export {
  FALLBACK_CLUSTER_ROOT,
  lockDataDir,
  type OpenStoreOptions,
  openStore,
  pingDatabase,
  type Store,
} from './store.ts';
