import { type Kysely, sql } from 'kysely';
import type { MigrationSet } from '../store/index.ts';

/** Channels (SMTP, webhooks), notifications and their deliveries. */
export const notificationsMigrations: MigrationSet = {
  '2026-11-27T0100-notifications': {
    async up(db: Kysely<any>) {
      await sql`
        CREATE TABLE notification_channels (
          id uuid PRIMARY KEY,
          name text NOT NULL UNIQUE,
          kind text NOT NULL CHECK (kind IN ('email', 'webhook')),
          settings jsonb NOT NULL,
          sealed_secret text,
          sealed_signing_key text,
          created_at timestamptz NOT NULL DEFAULT now(),
          created_by text
        );
        CREATE TABLE notifications (
          id uuid PRIMARY KEY,
          event text NOT NULL,
          title text NOT NULL,
          body text NOT NULL,
          link text,
          app text,
          environment text,
          audience text NOT NULL,
          data jsonb,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX notifications_created_at ON notifications (created_at DESC);
        CREATE INDEX notifications_environment ON notifications (environment, created_at DESC);
        CREATE TABLE notification_deliveries (
          id uuid PRIMARY KEY,
          notification_id uuid NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
          channel_id uuid NOT NULL REFERENCES notification_channels(id) ON DELETE CASCADE,
          recipient text,
          status text NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
          attempts integer NOT NULL DEFAULT 0,
          last_error text,
          sent_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX notification_deliveries_notification ON notification_deliveries (notification_id);
      `.execute(db);
    },
  },
};
