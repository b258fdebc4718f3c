import { type Kysely, sql } from 'kysely';
import type { MigrationSet } from '../store/index.ts';

/** The genesis hash: the "previous hash" of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** The audit log: an append-only, hash-chained table and its head. */
export const auditMigrations: MigrationSet = {
  '2026-11-26T1801-audit': {
    async up(db: Kysely<any>) {
      await sql`
        CREATE TABLE audit_log (
          id bigint PRIMARY KEY,
          at timestamptz NOT NULL,
          actor text NOT NULL,
          actor_id uuid,
          action text NOT NULL,
          target text,
          outcome text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
          source_ip text,
          request_id text,
          details jsonb,
          prev_hash text NOT NULL,
          hash text NOT NULL
        );
        CREATE INDEX audit_log_at ON audit_log (at);
        CREATE INDEX audit_log_actor ON audit_log (actor, id);
        CREATE INDEX audit_log_action ON audit_log (action, id);
        CREATE TABLE audit_head (
          id integer PRIMARY KEY CHECK (id = 1),
          last_id bigint NOT NULL,
          last_hash text NOT NULL
        );
        INSERT INTO audit_head (id, last_id, last_hash) VALUES (1, 0, ${sql.lit(GENESIS_HASH)});
        -- Append-only: Slipway never updates or deletes entries. The hash chain detects changes made
        -- by anyone who bypasses this (a superuser, or the owner disabling the trigger).
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP;
        END $$;
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
          FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
        CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
          FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
      `.execute(db);
    },
  },
};
