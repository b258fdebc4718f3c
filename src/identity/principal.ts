import { type Kysely, sql } from 'kysely';
import type { Grant, Principal, Role, Scope } from '../core/index.ts';
import type { IdentityTables } from './schema.ts';

interface GrantRow {
  role: Role;
  scopeKind: 'platform' | 'environment';
  environment: string | null;
  viaGroup: string | null;
}

/** The SQL fragment that gathers a user's groups and grants; `u` is the users row. */
const GROUPS_AND_GRANTS = sql`
  coalesce((SELECT array_agg(g.name ORDER BY g.name) FROM group_members gm JOIN groups g ON g.id = gm.group_id
            WHERE gm.user_id = u.id), '{}') AS groups,
  coalesce((SELECT json_agg(json_build_object('role', rb.role, 'scopeKind', rb.scope_kind,
                   'environment', rb.environment, 'viaGroup', g.name))
            FROM role_bindings rb LEFT JOIN groups g ON rb.subject_kind = 'group' AND g.id = rb.subject_id
            WHERE (rb.subject_kind = 'user' AND rb.subject_id = u.id)
               OR (rb.subject_kind = 'group' AND rb.subject_id IN
                     (SELECT group_id FROM group_members WHERE user_id = u.id))), '[]') AS grants`;

/** A credential row joined with its user, groups and grants. */
export interface CredentialRow {
  readonly credential_id: string;
  readonly secret_hash: Buffer;
  readonly expires_at: Date | null;
  readonly revoked_at?: Date | null;
  readonly csrf_token?: string;
  readonly user_id: string;
  readonly username: string;
  readonly is_disabled: boolean;
  readonly groups: string[];
  readonly grants: GrantRow[];
}

/** Loads an API token with everything needed to authorise its calls, in one query. */
export async function loadTokenCredential(
  db: Kysely<IdentityTables>,
  tokenId: string,
): Promise<CredentialRow | undefined> {
  const { rows } = await sql<CredentialRow>`
    SELECT t.id AS credential_id, t.secret_hash, t.expires_at, t.revoked_at,
           u.id AS user_id, u.username, u.is_disabled, ${GROUPS_AND_GRANTS}
    FROM api_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.id = ${tokenId}`.execute(db);
  return rows[0];
}

/** Loads a console session with everything needed to authorise its calls, in one query. */
export async function loadSessionCredential(
  db: Kysely<IdentityTables>,
  sessionId: string,
): Promise<CredentialRow | undefined> {
  const { rows } = await sql<CredentialRow>`
    SELECT s.id AS credential_id, s.secret_hash, s.expires_at, s.csrf_token,
           u.id AS user_id, u.username, u.is_disabled, ${GROUPS_AND_GRANTS}
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.id = ${sessionId}`.execute(db);
  return rows[0];
}

/** Loads a user's principal directly (for a login that just succeeded). */
export async function loadUserPrincipal(
  db: Kysely<IdentityTables>,
  userId: string,
  via: Principal['via'],
  credentialId: string,
): Promise<Principal> {
  const { rows } = await sql<Omit<CredentialRow, 'credential_id' | 'secret_hash' | 'expires_at'>>`
    SELECT u.id AS user_id, u.username, u.is_disabled, ${GROUPS_AND_GRANTS}
    FROM users u WHERE u.id = ${userId}`.execute(db);
  const row = rows[0];
  if (!row) throw new Error(`user ${userId} vanished`);
  return toPrincipal(
    { ...row, credential_id: credentialId, secret_hash: Buffer.alloc(0), expires_at: null },
    via,
  );
}

/** Turns a credential row into the principal the policy sees. */
export function toPrincipal(row: CredentialRow, via: Principal['via']): Principal {
  const grants: Grant[] = row.grants.map((g) => {
    const scope: Scope =
      g.scopeKind === 'platform'
        ? { kind: 'platform' }
        : { kind: 'environment', environment: g.environment ?? '' };
    return g.viaGroup ? { role: g.role, scope, viaGroup: g.viaGroup } : { role: g.role, scope };
  });
  return {
    userId: row.user_id,
    username: row.username,
    isDisabled: row.is_disabled,
    via,
    credentialId: row.credential_id,
    groups: row.groups,
    grants,
  };
}
