import { type Kysely, sql } from 'kysely';
import type { Grant, Principal, Role, Scope } from '../core/index.ts';
import type { IdentityTables } from './schema.ts';

interface GrantRow {
  role: Role;
  scopeKind: 'platform' | 'environment';
  environment: string | null;
  viaGroup: string | null;
}

/** A credential row joined with its user, groups and grants. */
export interface CredentialRow {
  readonly credential_id: string;
  readonly secret_hash: Buffer;
  readonly expires_at: Date | null;
  readonly revoked_at?: Date | null;
  readonly last_used_at?: Date | null;
  readonly csrf_token?: string;
  readonly user_id: string;
  readonly username: string;
  readonly is_disabled: boolean;
  readonly groups: string[];
  readonly grants: GrantRow[];
}

/**
 * Loads a credential (an API token or a console session) with its user, groups and grants, through
 * the identity_credential and identity_user_access functions (plans cached per connection).
 */
export async function loadCredential(
  db: Kysely<IdentityTables>,
  kind: 'token' | 'session',
  id: string,
): Promise<CredentialRow | undefined> {
  const { rows } = await sql<CredentialRow>`
    SELECT c.credential_id, c.secret_hash, c.expires_at, c.revoked_at, c.last_used_at, c.csrf_token,
           c.user_id, c.username, c.is_disabled, a.groups, a.grants
    FROM identity_credential(${kind}, ${id}::uuid) c, identity_user_access(c.user_id) a`.execute(db);
  return rows[0];
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
