import { type Kysely, sql } from 'kysely';
import type { MigrationSet } from '../store/index.ts';

/**
 * The replication module's tables in the control plane: link definitions (connection strings sealed
 * by the secrets store's envelope cipher) and each link's event history. The live state of a link is
 * kept on its two databases, where the applier records it.
 */
export const replicationMigrations: MigrationSet = {
  '2026-11-28T1200-replication': {
    async up(db: Kysely<any>) {
      await sql`
        CREATE TABLE replication_links (
          id uuid PRIMARY KEY,
          name text NOT NULL UNIQUE,
          source_dsn text NOT NULL,
          target_dsn text NOT NULL,
          selection jsonb NOT NULL,
          tables jsonb NOT NULL,
          applier text NOT NULL DEFAULT 'embedded' CHECK (applier IN ('embedded', 'external')),
          lag_alert_seconds integer NOT NULL DEFAULT 60,
          state text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'stopped', 'promoted')),
          direction integer NOT NULL DEFAULT 1,
          alert_since timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          created_by text,
          updated_at timestamptz NOT NULL DEFAULT now(),
          promoted_at timestamptz
        );
        CREATE TABLE replication_events (
          id bigserial PRIMARY KEY,
          link_id uuid NOT NULL REFERENCES replication_links (id) ON DELETE CASCADE,
          at timestamptz NOT NULL DEFAULT now(),
          kind text NOT NULL,
          message text NOT NULL,
          details jsonb
        );
        CREATE INDEX replication_events_link ON replication_events (link_id, id DESC);
      `.execute(db);
    },
  },
};
