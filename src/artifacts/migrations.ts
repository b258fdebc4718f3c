import { type Kysely, sql } from 'kysely';
import type { MigrationSet } from '../store/index.ts';

/** The artifact repository's tables: versions, channels, deployments and the signed APT indexes. */
export const artifactsMigrations: MigrationSet = {
  '2026-11-28T0900-artifacts': {
    async up(db: Kysely<any>) {
      await sql`
        CREATE TABLE artifacts (
          id uuid PRIMARY KEY,
          app text NOT NULL,
          package text NOT NULL,
          version text NOT NULL,
          architecture text NOT NULL,
          sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
          size bigint NOT NULL CHECK (size >= 0),
          filename text NOT NULL,
          control text NOT NULL,
          metadata jsonb NOT NULL DEFAULT '{}',
          created_at timestamptz NOT NULL DEFAULT now(),
          created_by text,
          UNIQUE (app, version)
        );
        CREATE INDEX artifacts_app_created ON artifacts (app, created_at DESC);
        CREATE INDEX artifacts_sha256 ON artifacts (sha256);
        CREATE INDEX artifacts_package ON artifacts (package);
        CREATE TABLE artifact_channels (
          name text PRIMARY KEY,
          revision bigint NOT NULL DEFAULT 0,
          updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE artifact_channel_entries (
          channel text NOT NULL REFERENCES artifact_channels(name),
          artifact_id uuid NOT NULL REFERENCES artifacts(id),
          promoted_at timestamptz NOT NULL DEFAULT now(),
          promoted_by text,
          PRIMARY KEY (channel, artifact_id)
        );
        CREATE INDEX artifact_channel_entries_artifact ON artifact_channel_entries (artifact_id);
        CREATE TABLE artifact_apt_indexes (
          channel text NOT NULL REFERENCES artifact_channels(name),
          revision bigint NOT NULL,
          packages bytea NOT NULL,
          packages_gz bytea NOT NULL,
          release bytea NOT NULL,
          in_release bytea NOT NULL,
          release_gpg bytea NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (channel, revision)
        );
        CREATE TABLE artifact_deployments (
          artifact_id uuid NOT NULL REFERENCES artifacts(id),
          environment text NOT NULL,
          deployed_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (artifact_id, environment)
        );
      `.execute(db);
    },
  },
  '2026-11-28T1500-artifacts-signing-key': {
    // The APT signing key, sealed by the secret store: it belongs with the database whose data keys open it.
    async up(db: Kysely<any>) {
      await sql`
        CREATE TABLE artifact_signing_keys (
          id integer PRIMARY KEY CHECK (id = 1),
          sealed text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now()
        );
      `.execute(db);
    },
  },
};
