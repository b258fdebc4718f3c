import { type Kysely, sql } from 'kysely';
import type { MigrationSet } from '../store/index.ts';

/** The pipelines module's tables: apps, build numbers, runs, their steps and logs. */
export const pipelinesMigrations: MigrationSet = {
  '2026-11-28T0910-pipelines': {
    async up(db: Kysely<any>) {
      await sql`
        CREATE TABLE pipeline_apps (
          id uuid PRIMARY KEY,
          name text NOT NULL UNIQUE,
          repository text NOT NULL,
          branch text NOT NULL,
          path text NOT NULL DEFAULT '.',
          network text NOT NULL CHECK (network IN ('allowed', 'denied')),
          concurrency integer NOT NULL CHECK (concurrency > 0),
          poll_interval_seconds integer CHECK (poll_interval_seconds > 0),
          retention_keep integer NOT NULL CHECK (retention_keep > 0),
          webhook_secret text NOT NULL,
          hook_secret text,
          last_polled_at timestamptz,
          last_polled_commit text,
          latest_run_id uuid,
          latest_run_number integer,
          latest_version text,
          latest_built_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          created_by text
        );
        -- Kept when an app is deleted: a new app of the same name continues the numbering, so its
        -- versions never collide with versions already in the artifact repository.
        CREATE TABLE pipeline_build_numbers (
          app text PRIMARY KEY,
          last_build integer NOT NULL
        );
        CREATE TABLE pipeline_runs (
          id uuid PRIMARY KEY,
          app_id uuid NOT NULL REFERENCES pipeline_apps(id) ON DELETE CASCADE,
          app text NOT NULL,
          number integer NOT NULL,
          commit text NOT NULL,
          branch text NOT NULL,
          trigger text NOT NULL,
          triggered_by text,
          state text NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
          attempt integer NOT NULL DEFAULT 1,
          version text,
          error text,
          rerun_of integer,
          superseded_commits text[] NOT NULL DEFAULT '{}',
          cancel_requested boolean NOT NULL DEFAULT false,
          outputs jsonb NOT NULL DEFAULT '{}',
          runner text,
          job_id text,
          heartbeat_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          started_at timestamptz,
          finished_at timestamptz,
          UNIQUE (app_id, number)
        );
        -- The same commit never builds twice from a trigger (webhooks, the git hook and polling all
        -- report one push); re-runs and manual runs are deliberate and exempt.
        CREATE UNIQUE INDEX pipeline_runs_triggered_commit ON pipeline_runs (app_id, commit)
          WHERE trigger NOT IN ('rerun', 'manual');
        CREATE INDEX pipeline_runs_app_created ON pipeline_runs (app_id, created_at DESC);
        CREATE INDEX pipeline_runs_active ON pipeline_runs (state) WHERE state IN ('queued', 'running');
        CREATE TABLE pipeline_run_steps (
          run_id uuid NOT NULL REFERENCES pipeline_runs(id) ON DELETE CASCADE,
          position integer NOT NULL,
          name text NOT NULL,
          title text NOT NULL,
          state text NOT NULL
            CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'skipped')),
          timeout_ms integer NOT NULL,
          started_at timestamptz,
          finished_at timestamptz,
          error text,
          PRIMARY KEY (run_id, position)
        );
        CREATE TABLE pipeline_run_logs (
          run_id uuid NOT NULL REFERENCES pipeline_runs(id) ON DELETE CASCADE,
          seq bigserial,
          step text,
          at timestamptz NOT NULL,
          text text NOT NULL,
          PRIMARY KEY (run_id, seq)
        );
      `.execute(db);
    },
  },
  // Apps' webhook and hook secrets are sealed at rest with the secrets module's envelope cipher. SQL
  // cannot encrypt (the root key is not the database's), so existing values move to plain_* columns
  // and the pipelines service seals them and clears the plain copies once the secret store is
  // unsealed (at start, then on the leader's polling pass): see AppSecrets.sealPlaintext.
  '2026-11-29T1000-pipelines-sealed-webhook-secrets': {
    async up(db: Kysely<any>) {
      await sql`
        ALTER TABLE pipeline_apps RENAME COLUMN webhook_secret TO plain_webhook_secret;
        ALTER TABLE pipeline_apps RENAME COLUMN hook_secret TO plain_hook_secret;
        ALTER TABLE pipeline_apps ALTER COLUMN plain_webhook_secret DROP NOT NULL;
        ALTER TABLE pipeline_apps
          ADD COLUMN sealed_webhook_secret text,
          ADD COLUMN sealed_hook_secret text,
          ADD CONSTRAINT pipeline_apps_webhook_secret_kept
            CHECK (sealed_webhook_secret IS NOT NULL OR plain_webhook_secret IS NOT NULL);
      `.execute(db);
    },
  },
};
