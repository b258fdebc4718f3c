import type { Kysely } from 'kysely';
import { type Principal, randomToken, UnauthenticatedError } from '../core/index.ts';
import type { CredentialCache } from './credential-cache.ts';
import { issueCredential, parseCredential, secretMatches } from './credentials.ts';
import { loadCredential, toPrincipal } from './principal.ts';
import type { IdentityTables } from './schema.ts';

type Db = Kysely<IdentityTables>;

/** Prefix of console session cookies. */
export const SESSION_PREFIX = 'sws_';

/** The console session cookie's name. */
export const SESSION_COOKIE = 'slipway_session';

/** A session just created: its cookie value (shown once) and its CSRF token. */
export interface NewSession {
  readonly id: string;
  readonly cookieValue: string;
  readonly csrfToken: string;
  readonly expiresAt: Date;
}

/** Starts a console session for a user. */
export async function createSession(
  db: Db,
  userId: string,
  options: { ttlMs: number; now: Date; sourceIp?: string },
): Promise<NewSession> {
  const credential = issueCredential(SESSION_PREFIX);
  const csrfToken = randomToken(32);
  const expiresAt = new Date(options.now.getTime() + options.ttlMs);
  await db
    .insertInto('sessions')
    .values({
      id: credential.id,
      user_id: userId,
      secret_hash: credential.secretHash,
      csrf_token: csrfToken,
      expires_at: expiresAt,
      source_ip: options.sourceIp ?? null,
    })
    .execute();
  // Expired sessions are useless; sweeping them here keeps the table small without a job.
  await db.deleteFrom('sessions').where('expires_at', '<', options.now).execute();
  return { id: credential.id, cookieValue: credential.value, csrfToken, expiresAt };
}

/**
 * Resolves a session cookie to its principal and CSRF token.
 * @throws UnauthenticatedError when the session is unknown, expired, or its user disabled
 */
export async function authenticateSession(
  db: Db,
  cookieValue: string,
  now: Date,
  cache?: CredentialCache,
): Promise<{ principal: Principal; csrfToken: string; expiresAt: Date }> {
  const parsed = parseCredential(SESSION_PREFIX, cookieValue);
  const load = () => loadCredential(db, 'session', parsed!.id);
  const row = parsed
    ? await (cache ? cache.load(`session:${parsed.id}`, load, now.getTime()) : load())
    : undefined;
  if (!parsed || !row || !secretMatches(parsed.secret, row.secret_hash)) {
    throw new UnauthenticatedError('The session is not valid; log in again');
  }
  if (row.expires_at && row.expires_at <= now)
    throw new UnauthenticatedError('The session has expired; log in again');
  if (row.is_disabled) throw new UnauthenticatedError(`User "${row.username}" is disabled`);
  return {
    principal: toPrincipal(row, 'session'),
    csrfToken: row.csrf_token ?? '',
    expiresAt: row.expires_at ?? now,
  };
}

/** Ends a session. */
export async function deleteSession(db: Db, sessionId: string): Promise<void> {
  await db.deleteFrom('sessions').where('id', '=', sessionId).execute();
}

/** Deletes expired sessions; returns how many. */
export async function sweepExpiredSessions(db: Db, now: Date): Promise<number> {
  const result = await db.deleteFrom('sessions').where('expires_at', '<', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}
