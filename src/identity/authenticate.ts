import { timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { ForbiddenError, type Principal, UnauthenticatedError } from '../core/index.ts';
import type { CredentialCache } from './credential-cache.ts';
import type { IdentityTables } from './schema.ts';
import { authenticateSession, SESSION_COOKIE } from './sessions.ts';
import { authenticateToken } from './tokens.ts';

/** The credentials a request may carry. */
export interface RequestCredentials {
  /** The Authorization header. */
  readonly authorization?: string | undefined;
  /** The session cookie's value. */
  readonly sessionCookie?: string | undefined;
}

/** Who a request comes from, and the session details when it came with the cookie. */
export interface Authentication {
  readonly principal: Principal;
  readonly session?: { readonly csrfToken: string; readonly expiresAt: Date };
}

/**
 * Authenticates a request by its bearer token, else its session cookie. Returns undefined when it
 * carries neither.
 * @throws UnauthenticatedError when a credential is present but not valid
 */
export async function authenticateRequest(
  db: Kysely<IdentityTables>,
  credentials: RequestCredentials,
  now: Date,
  cache?: CredentialCache,
): Promise<Authentication | undefined> {
  if (credentials.authorization) {
    const token = tokenOfAuthorization(credentials.authorization);
    if (token === undefined) {
      throw new UnauthenticatedError('The Authorization header is not a bearer token', {
        hint: 'Send "Authorization: Bearer <token>" with a token from `slipway tokens create`',
      });
    }
    return { principal: await authenticateToken(db, token, now, cache) };
  }
  if (credentials.sessionCookie) {
    const { principal, csrfToken, expiresAt } = await authenticateSession(
      db,
      credentials.sessionCookie,
      now,
      cache,
    );
    return { principal, session: { csrfToken, expiresAt } };
  }
  return undefined;
}

/**
 * The API token an Authorization header carries: "Bearer <token>", or HTTP Basic with the token as
 * the password, which is how clients that only speak Basic send it (apt's auth.conf). The Basic user
 * name is not checked: the token alone says who calls. Undefined for any other form.
 */
export function tokenOfAuthorization(header: string): string | undefined {
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  if (bearer) return bearer[1]!;
  const basic = /^Basic\s+([A-Za-z0-9+/]+={0,2})$/i.exec(header);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  // A Basic header without a password carries no token; it is refused like any malformed one.
  return colon >= 0 && colon < decoded.length - 1 ? decoded.slice(colon + 1) : undefined;
}

/**
 * A cookie-authenticated write must echo the session's CSRF token in the X-CSRF-Token header.
 * @throws ForbiddenError when it is missing or wrong
 */
export function checkCsrf(expected: string, presented: string | undefined): void {
  const a = Buffer.from(expected);
  const b = Buffer.from(presented ?? '');
  if (a.length > 0 && a.length === b.length && timingSafeEqual(a, b)) return;
  throw new ForbiddenError('Not allowed: the CSRF token is missing or wrong', {
    hint: 'Send the X-CSRF-Token header with the token from GET /api/auth/session',
  });
}

export { SESSION_COOKIE };
