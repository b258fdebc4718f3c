import { type Kysely, sql } from 'kysely';
import type { MigrationSet } from '../store/index.ts';

/** The environments module's tables: environments, plans, applies, resources, hosts, the tracked source. */
export const environmentsMigrations: MigrationSet = {
  '2026-11-27T1200-environments': {
    async up(db: Kysely<any>) {
      await sql`
        CREATE TABLE environments (
          name text PRIMARY KEY,
          provider text NOT NULL,
          status text NOT NULL,
          model jsonb,
          model_hash text,
          file text,
          applied_commit text,
          applied_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE environment_plans (
          id uuid PRIMARY KEY,
          environment text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          created_by text NOT NULL,
          trigger text NOT NULL,
          kind text NOT NULL,
          commit text,
          source text,
          file text,
          model jsonb,
          model_hash text,
          changes jsonb NOT NULL DEFAULT '[]',
          summary jsonb NOT NULL DEFAULT '{"create":0,"update":0,"delete":0}',
          problems jsonb NOT NULL DEFAULT '[]',
          error text,
          status text NOT NULL,
          decided_by text,
          decided_at timestamptz
        );
        CREATE INDEX environment_plans_environment ON environment_plans (environment, created_at DESC);
        CREATE INDEX environment_plans_evaluating ON environment_plans (created_at) WHERE status = 'evaluating';
        CREATE TABLE environment_applies (
          id uuid PRIMARY KEY,
          environment text NOT NULL,
          plan_id uuid NOT NULL REFERENCES environment_plans(id),
          requested_by text NOT NULL,
          requested_at timestamptz NOT NULL DEFAULT now(),
          started_at timestamptz,
          finished_at timestamptz,
          status text NOT NULL,
          commit text,
          steps jsonb NOT NULL DEFAULT '[]',
          error text,
          attempts integer NOT NULL DEFAULT 0
        );
        CREATE INDEX environment_applies_environment ON environment_applies (environment, requested_at DESC);
        CREATE INDEX environment_applies_pending ON environment_applies (requested_at) WHERE status IN ('queued', 'running');
        CREATE TABLE environment_resources (
          environment text NOT NULL,
          resource text NOT NULL,
          kind text NOT NULL,
          spec jsonb NOT NULL,
          spec_hash text NOT NULL,
          status text NOT NULL,
          outputs jsonb NOT NULL DEFAULT '{}',
          sensitive jsonb NOT NULL DEFAULT '{}',
          observed jsonb,
          observed_at timestamptz,
          updated_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (environment, resource)
        );
        CREATE TABLE environment_hosts (
          id uuid PRIMARY KEY,
          environment text NOT NULL,
          name text NOT NULL,
          services text[] NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          join_token_id uuid,
          join_token_hash bytea,
          join_token_expires_at timestamptz,
          joined_at timestamptz,
          credential_id uuid,
          credential_hash bytea,
          credential_revoked_at timestamptz,
          document jsonb NOT NULL,
          revision integer NOT NULL DEFAULT 1,
          document_updated_at timestamptz NOT NULL DEFAULT now(),
          report jsonb,
          reported_at timestamptz,
          agent_instance text,
          applied_revision integer,
          events jsonb NOT NULL DEFAULT '[]',
          UNIQUE (environment, name)
        );
        CREATE UNIQUE INDEX environment_hosts_join_token ON environment_hosts (join_token_id) WHERE join_token_id IS NOT NULL;
        CREATE UNIQUE INDEX environment_hosts_credential ON environment_hosts (credential_id) WHERE credential_id IS NOT NULL;
        CREATE TABLE environment_source (
          id integer PRIMARY KEY CHECK (id = 1),
          url text NOT NULL,
          branch text NOT NULL,
          poll_interval_ms integer NOT NULL,
          last_commit text,
          last_checked_at timestamptz,
          last_error jsonb,
          updated_by text NOT NULL,
          updated_at timestamptz NOT NULL DEFAULT now()
        );
      `.execute(db);
    },
  },
  '2026-11-28T1300-environments-host-slots': {
    // A host fills a slot of the definition ("web-1"); its name is its own ("web-4" after a rollout
    // replaced web-1's host). Applies address slots, providers and load balancers address names.
    // Hosts a rollout creates start without a slot and take one when the rollout adopts them.
    async up(db: Kysely<any>) {
      await sql`
        ALTER TABLE environment_hosts ADD COLUMN slot text;
        UPDATE environment_hosts SET slot = name;
        CREATE UNIQUE INDEX environment_hosts_slot ON environment_hosts (environment, slot) WHERE slot IS NOT NULL;
      `.execute(db);
    },
  },
};
