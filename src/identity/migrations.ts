import { type Kysely, sql } from 'kysely';
import type { MigrationSet } from '../store/index.ts';

/** The identity module's tables: users, sessions, API tokens, groups and role bindings. */
export const identityMigrations: MigrationSet = {
  '2026-11-26T1800-identity': {
    async up(db: Kysely<any>) {
      await sql`
        CREATE TABLE users (
          id uuid PRIMARY KEY,
          username text NOT NULL UNIQUE,
          display_name text,
          email text,
          password_hash text,
          is_disabled boolean NOT NULL DEFAULT false,
          failed_logins integer NOT NULL DEFAULT 0,
          locked_until timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          last_login_at timestamptz
        );
        CREATE TABLE sessions (
          id uuid PRIMARY KEY,
          user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          secret_hash bytea NOT NULL,
          csrf_token text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          expires_at timestamptz NOT NULL,
          last_seen_at timestamptz NOT NULL DEFAULT now(),
          source_ip text
        );
        CREATE INDEX sessions_user_id ON sessions (user_id);
        CREATE INDEX sessions_expires_at ON sessions (expires_at);
        CREATE TABLE api_tokens (
          id uuid PRIMARY KEY,
          user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          name text NOT NULL,
          secret_hash bytea NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          expires_at timestamptz,
          last_used_at timestamptz,
          revoked_at timestamptz
        );
        CREATE INDEX api_tokens_user_id ON api_tokens (user_id);
        CREATE UNIQUE INDEX api_tokens_user_name ON api_tokens (user_id, name) WHERE revoked_at IS NULL;
        CREATE TABLE groups (
          id uuid PRIMARY KEY,
          name text NOT NULL UNIQUE,
          description text,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE group_members (
          group_id uuid NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
          user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          added_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (group_id, user_id)
        );
        CREATE INDEX group_members_user_id ON group_members (user_id);
        CREATE TABLE role_bindings (
          id uuid PRIMARY KEY,
          subject_kind text NOT NULL CHECK (subject_kind IN ('user', 'group')),
          subject_id uuid NOT NULL,
          role text NOT NULL CHECK (role IN ('viewer', 'developer', 'deployer', 'admin')),
          scope_kind text NOT NULL CHECK (scope_kind IN ('platform', 'environment')),
          environment text,
          created_at timestamptz NOT NULL DEFAULT now(),
          created_by text,
          CHECK ((scope_kind = 'platform') = (environment IS NULL))
        );
        CREATE UNIQUE INDEX role_bindings_unique
          ON role_bindings (subject_kind, subject_id, role, scope_kind, coalesce(environment, ''));
        CREATE INDEX role_bindings_subject ON role_bindings (subject_kind, subject_id);
      `.execute(db);
    },
  },
  '2026-11-26T1802-identity-credential-function': {
    // Every API call resolves its credential to a user, groups and grants. As a PL/pgSQL function the
    // query's plan is cached per connection instead of being planned again on each request.
    async up(db: Kysely<any>) {
      await sql`
        CREATE FUNCTION identity_credential(kind text, credential uuid)
        RETURNS TABLE (credential_id uuid, secret_hash bytea, expires_at timestamptz, revoked_at timestamptz,
                       last_used_at timestamptz, csrf_token text, user_id uuid, username text,
                       is_disabled boolean, groups text[], grants json)
        LANGUAGE plpgsql STABLE AS $$
        DECLARE
          found_user uuid;
        BEGIN
          IF kind = 'token' THEN
            RETURN QUERY SELECT t.id, t.secret_hash, t.expires_at, t.revoked_at, t.last_used_at, NULL::text,
                                u.id, u.username, u.is_disabled, NULL::text[], NULL::json
              FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = credential;
          ELSE
            RETURN QUERY SELECT s.id, s.secret_hash, s.expires_at, NULL::timestamptz, NULL::timestamptz, s.csrf_token,
                                u.id, u.username, u.is_disabled, NULL::text[], NULL::json
              FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = credential;
          END IF;
        END $$;

        CREATE FUNCTION identity_user_access(member uuid, OUT groups text[], OUT grants json)
        LANGUAGE plpgsql STABLE AS $$
        BEGIN
          SELECT coalesce(array_agg(g.name ORDER BY g.name), '{}') INTO groups
            FROM group_members gm JOIN groups g ON g.id = gm.group_id WHERE gm.user_id = member;
          SELECT coalesce(json_agg(json_build_object('role', rb.role, 'scopeKind', rb.scope_kind,
                   'environment', rb.environment, 'viaGroup', g.name)), '[]') INTO grants
            FROM role_bindings rb LEFT JOIN groups g ON rb.subject_kind = 'group' AND g.id = rb.subject_id
           WHERE (rb.subject_kind = 'user' AND rb.subject_id = member)
              OR (rb.subject_kind = 'group' AND rb.subject_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = member));
        END $$;
      `.execute(db);
    },
  },
  '2026-11-26T1803-identity-change-notifications': {
    // Replicas cache resolved credentials; these triggers tell every replica to drop its cache when
    // anything that changes a credential's meaning is written, even by hand in SQL. Columns that
    // only record activity (last_used_at, last_login_at, failed_logins) do not notify.
    async up(db: Kysely<any>) {
      await sql`
        CREATE FUNCTION identity_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('slipway_identity', TG_TABLE_NAME);
          RETURN NULL;
        END $$;
        CREATE TRIGGER users_changed AFTER UPDATE OF username, is_disabled, password_hash OR DELETE OR TRUNCATE
          ON users FOR EACH STATEMENT EXECUTE FUNCTION identity_changed();
        CREATE TRIGGER api_tokens_changed AFTER UPDATE OF user_id, secret_hash, expires_at, revoked_at OR DELETE OR TRUNCATE
          ON api_tokens FOR EACH STATEMENT EXECUTE FUNCTION identity_changed();
        CREATE TRIGGER sessions_changed AFTER UPDATE OF user_id, secret_hash, expires_at, csrf_token OR DELETE OR TRUNCATE
          ON sessions FOR EACH STATEMENT EXECUTE FUNCTION identity_changed();
        CREATE TRIGGER groups_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
          ON groups FOR EACH STATEMENT EXECUTE FUNCTION identity_changed();
        CREATE TRIGGER group_members_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
          ON group_members FOR EACH STATEMENT EXECUTE FUNCTION identity_changed();
        CREATE TRIGGER role_bindings_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
          ON role_bindings FOR EACH STATEMENT EXECUTE FUNCTION identity_changed();
      `.execute(db);
    },
  },
};
