import { type Kysely, sql } from 'kysely';
import type { MigrationSet } from '../store/index.ts';

/**
 * The secrets module's tables. Values exist only as AES-256-GCM ciphertext under a data key; data
 * keys exist only wrapped by the root key; the keyed HMAC of each value lets changes be compared.
 */
export const secretsMigrations: MigrationSet = {
  '2026-11-27T0900-secrets': {
    async up(db: Kysely<any>) {
      await sql`
        CREATE TABLE secret_root (
          id smallint PRIMARY KEY CHECK (id = 1),
          root_key_id text NOT NULL,
          hmac_key_wrapped bytea NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          rotated_at timestamptz
        );
        CREATE TABLE secret_data_keys (
          id uuid PRIMARY KEY,
          scope text NOT NULL,
          wrapped_key bytea NOT NULL,
          root_key_id text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          retired_at timestamptz
        );
        CREATE UNIQUE INDEX secret_data_keys_active ON secret_data_keys (scope) WHERE retired_at IS NULL;
        CREATE TABLE secret_environments (
          environment text PRIMARY KEY,
          set_version integer NOT NULL DEFAULT 0,
          updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE secrets (
          id uuid PRIMARY KEY,
          environment text NOT NULL REFERENCES secret_environments(environment),
          name text NOT NULL,
          current_version integer NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          created_by text NOT NULL,
          deleted_at timestamptz,
          deleted_by text,
          delete_reason text,
          UNIQUE (environment, name)
        );
        CREATE TABLE secret_versions (
          secret_id uuid NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
          version integer NOT NULL,
          data_key_id uuid REFERENCES secret_data_keys(id),
          nonce bytea,
          ciphertext bytea,
          value_hmac text NOT NULL,
          origin text NOT NULL CHECK (origin IN ('set', 'import', 'rollback')),
          rolled_back_from integer,
          reason text,
          created_at timestamptz NOT NULL DEFAULT now(),
          created_by text NOT NULL,
          destroyed_at timestamptz,
          PRIMARY KEY (secret_id, version),
          CHECK ((destroyed_at IS NULL) = (ciphertext IS NOT NULL AND nonce IS NOT NULL AND data_key_id IS NOT NULL))
        );
        CREATE INDEX secret_versions_data_key ON secret_versions (data_key_id);
        CREATE TABLE secret_set_versions (
          environment text NOT NULL REFERENCES secret_environments(environment),
          version integer NOT NULL,
          members jsonb NOT NULL,
          changes jsonb NOT NULL,
          reason text,
          created_at timestamptz NOT NULL DEFAULT now(),
          created_by text NOT NULL,
          PRIMARY KEY (environment, version)
        );
        CREATE TABLE secret_set_pins (
          environment text NOT NULL,
          set_version integer NOT NULL,
          pinned_by text NOT NULL,
          pinned_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (environment, set_version, pinned_by),
          FOREIGN KEY (environment, set_version) REFERENCES secret_set_versions (environment, version)
        );
      `.execute(db);
    },
  },
};
