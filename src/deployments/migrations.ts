import { type Kysely, sql } from 'kysely';
import type { MigrationSet } from '../store/index.ts';

/** Releases, deployments (a persisted state machine with its plan and progress), and their events. */
export const deploymentsMigrations: MigrationSet = {
  '2026-11-28T1400-deployments': {
    async up(db: Kysely<any>) {
      await sql`
        CREATE TABLE releases (
          id uuid PRIMARY KEY,
          number bigserial UNIQUE,
          environment text NOT NULL,
          app text NOT NULL,
          version text NOT NULL,
          artifact jsonb NOT NULL,
          config jsonb NOT NULL,
          secret_set_version integer,
          reason text,
          created_by text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX releases_environment_app ON releases (environment, app, number DESC);
        CREATE TABLE deployments (
          id uuid PRIMARY KEY,
          number bigserial UNIQUE,
          environment text NOT NULL,
          app text NOT NULL,
          release_id uuid NOT NULL REFERENCES releases(id),
          previous_release_id uuid REFERENCES releases(id),
          strategy jsonb NOT NULL,
          state text NOT NULL CHECK (state IN ('pending', 'predeploy', 'rolling', 'postdeploy', 'verifying',
            'succeeded', 'failed', 'rolling_back', 'rolled_back')),
          instances jsonb NOT NULL DEFAULT '[]',
          plan jsonb NOT NULL DEFAULT '[]',
          next_action integer NOT NULL DEFAULT 0,
          rollback_plan jsonb,
          rollback_next integer NOT NULL DEFAULT 0,
          reason text,
          trigger text NOT NULL CHECK (trigger IN ('manual', 'pipeline', 'rollback')),
          run_id uuid,
          requested_by text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          started_at timestamptz,
          finished_at timestamptz,
          heartbeat_at timestamptz
        );
        CREATE INDEX deployments_environment ON deployments (environment, number DESC);
        -- One deployment per environment at a time.
        CREATE UNIQUE INDEX deployments_one_active ON deployments (environment)
          WHERE state IN ('pending', 'predeploy', 'rolling', 'postdeploy', 'verifying', 'rolling_back');
        CREATE TABLE deployment_events (
          id bigserial PRIMARY KEY,
          deployment_id uuid NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
          at timestamptz NOT NULL DEFAULT now(),
          level text NOT NULL CHECK (level IN ('info', 'warn', 'error')),
          message text NOT NULL
        );
        CREATE INDEX deployment_events_deployment ON deployment_events (deployment_id, id);
        -- What each environment runs now, per app.
        CREATE TABLE environment_releases (
          environment text NOT NULL,
          app text NOT NULL,
          release_id uuid NOT NULL REFERENCES releases(id),
          deployment_id uuid REFERENCES deployments(id),
          updated_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (environment, app)
        );
        -- How each built version of an app is laid out and run (from its slipway.yaml).
        CREATE TABLE release_layouts (
          app text NOT NULL,
          version text NOT NULL,
          layout jsonb NOT NULL,
          recorded_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (app, version)
        );
        -- Which environments a version passed (the promotion policy reads it).
        CREATE TABLE release_verifications (
          app text NOT NULL,
          version text NOT NULL,
          environment text NOT NULL,
          outcome text NOT NULL CHECK (outcome IN ('passed', 'failed')),
          summary jsonb,
          at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (app, version, environment)
        );
      `.execute(db);
    },
  },
};
