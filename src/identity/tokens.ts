import type { Kysely, Selectable } from 'kysely';
import { ConflictError, NotFoundError, type Principal, UnauthenticatedError } from '../core/index.ts';
import type { CredentialCache } from './credential-cache.ts';
import { issueCredential, parseCredential, secretMatches, TOKEN_PREFIX } from './credentials.ts';
import { loadCredential, toPrincipal } from './principal.ts';
import type { ApiToken, IdentityTables } from './schema.ts';

type Db = Kysely<IdentityTables>;

function toApiToken(row: Selectable<IdentityTables['api_tokens']>): ApiToken {
  return {
    id: row.id,
    name: row.name,
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at?.toISOString() ?? null,
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

/**
 * Creates a personal API token. The returned `value` is shown once; only its hash is stored.
 * @throws ConflictError when the user already has a live token with this name
 */
export async function createApiToken(
  db: Db,
  userId: string,
  options: { name: string; expiresAt?: Date },
): Promise<{ token: ApiToken; value: string }> {
  const credential = issueCredential(TOKEN_PREFIX);
  const row = await db
    .insertInto('api_tokens')
    .values({
      id: credential.id,
      user_id: userId,
      name: options.name,
      secret_hash: credential.secretHash,
      expires_at: options.expiresAt ?? null,
    })
    .onConflict((oc) => oc.columns(['user_id', 'name']).where('revoked_at', 'is', null).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!row) {
    throw new ConflictError(
      `Cannot create token "${options.name}": you already have a token with that name`,
      {
        hint: 'Choose another name, or revoke the old token with `slipway tokens revoke ID`',
        retryable: false,
      },
    );
  }
  return { token: toApiToken(row), value: credential.value };
}

/** Lists a user's tokens (never their values), newest first. */
export async function listApiTokens(db: Db, userId: string): Promise<ApiToken[]> {
  const rows = await db
    .selectFrom('api_tokens')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .execute();
  return rows.map(toApiToken);
}

/**
 * Revokes one of a user's tokens.
 * @throws NotFoundError when the user has no live token with that id
 */
export async function revokeApiToken(db: Db, userId: string, tokenId: string): Promise<ApiToken> {
  const row = await db
    .updateTable('api_tokens')
    .set({ revoked_at: new Date() })
    .where('id', '=', tokenId)
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  if (!row) {
    throw new NotFoundError(`Cannot revoke token "${tokenId}": you have no live token with that id`, {
      hint: 'Run `slipway tokens list` to see your tokens',
    });
  }
  return toApiToken(row);
}

/**
 * Resolves a presented bearer token to its principal.
 * @throws UnauthenticatedError when the token is unknown, wrong, revoked, expired or its user disabled
 */
export async function authenticateToken(
  db: Db,
  value: string,
  now: Date,
  cache?: CredentialCache,
): Promise<Principal> {
  const parsed = parseCredential(TOKEN_PREFIX, value);
  const key = `token:${parsed?.id}`;
  const load = () => loadCredential(db, 'token', parsed!.id);
  const row = parsed ? await (cache ? cache.load(key, load, now.getTime()) : load()) : undefined;
  if (!parsed || !row || !secretMatches(parsed.secret, row.secret_hash)) {
    throw new UnauthenticatedError('The API token is not valid');
  }
  if (row.revoked_at) throw new UnauthenticatedError('The API token was revoked');
  if (row.expires_at && row.expires_at <= now) throw new UnauthenticatedError('The API token has expired');
  if (row.is_disabled) throw new UnauthenticatedError(`User "${row.username}" is disabled`);
  // Recording use costs a write; once a minute per token is enough to answer "is it still used?".
  const due = cache
    ? cache.dueForUseWrite(key, row, now.getTime())
    : !row.last_used_at || row.last_used_at.getTime() < now.getTime() - 60_000;
  if (due) {
    void db
      .updateTable('api_tokens')
      .set({ last_used_at: now })
      .where('id', '=', row.credential_id)
      .execute()
      .catch(() => undefined);
  }
  return toPrincipal(row, 'token');
}
