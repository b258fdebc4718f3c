import { type Kysely, sql } from 'kysely';
import type { MigrationSet } from '../../store/index.ts';

/** The local provider's table: the ports it allocated on this machine, kept across restarts. */
export const localProviderMigrations: MigrationSet = {
  '2026-11-27T1201-local-provider-ports': {
    async up(db: Kysely<any>) {
      await sql`
        CREATE TABLE local_provider_ports (
          port integer PRIMARY KEY,
          environment text NOT NULL,
          owner text NOT NULL,
          allocated_at timestamptz NOT NULL DEFAULT now(),
          UNIQUE (environment, owner)
        );
      `.execute(db);
    },
  },
};
