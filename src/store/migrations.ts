import { type Kysely, type Migration, type MigrationResult, Migrator } from 'kysely';
import { UnavailableError } from '../core/index.ts';

export type { Migration } from 'kysely';

/**
 * A module's migrations, keyed by name. Names sort in the order they must run across all modules,
 * so each begins with its creation time: "2026-11-26T1800-identity-users".
 */
export type MigrationSet = Readonly<Record<string, Migration>>;

/** What applying migrations did. */
export interface MigrateResult {
  readonly applied: readonly string[];
  readonly error?: unknown;
}

/**
 * Applies every pending migration from the given sets, each in its own transaction, under
 * Kysely's migration lock (so several control planes starting together apply each once).
 * @throws UnavailableError naming the migration that failed; earlier ones stay applied
 */
export async function migrateToLatest(
  db: Kysely<any>,
  sets: readonly MigrationSet[],
): Promise<MigrateResult> {
  const all: Record<string, Migration> = {};
  for (const set of sets) {
    for (const [name, migration] of Object.entries(set)) {
      if (all[name]) throw new Error(`Two modules define the migration "${name}"`);
      all[name] = migration;
    }
  }
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => all },
    migrationTableName: 'slipway_migration',
    migrationLockTableName: 'slipway_migration_lock',
    // Modules are written in parallel: a data directory may already hold a later module's migrations
    // when one that sorts earlier arrives. Order still holds within a module and for fresh stores.
    allowUnorderedMigrations: true,
  });
  const { error, results } = await migrator.migrateToLatest();
  const applied = (results ?? [])
    .filter((r: MigrationResult) => r.status === 'Success')
    .map((r) => r.migrationName);
  if (error) {
    const failed = (results ?? []).find((r) => r.status === 'Error');
    throw new UnavailableError(
      `Cannot migrate the database: migration "${failed?.migrationName ?? 'unknown'}" failed`,
      {
        hint: 'Fix the cause shown below and start again; migrations that succeeded stay applied',
        cause: error,
        retryable: false,
      },
    );
  }
  return { applied };
}
