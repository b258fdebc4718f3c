import { type Kysely, sql } from 'kysely';
import { randomToken, UnauthenticatedError } from '../core/index.ts';
import { LoginFailedError, LoginLockedError } from './errors.ts';
import { verifyPassword } from './passwords.ts';
import { grantRole } from './role-bindings.ts';
import type { IdentityTables } from './schema.ts';
import { createUser } from './users.ts';

type Db = Kysely<IdentityTables>;

/** Failed logins in a row before the account starts to wait. */
export const FREE_LOGIN_ATTEMPTS = 5;
/** Longest wait after repeated failures. */
export const MAX_LOGIN_LOCK_SECONDS = 900;

/**
 * Checks a username and password. After FREE_LOGIN_ATTEMPTS failures in a row the account waits
 * 1 s, then 2 s, 4 s, … (up to 15 min) before it accepts another attempt, even a right one.
 * @throws LoginLockedError while the account waits
 * @throws LoginFailedError for a wrong username or password (not told apart)
 * @throws UnauthenticatedError when the password is right but the user is disabled
 */
export async function checkLogin(
  db: Db,
  username: string,
  password: string,
  now: Date,
): Promise<{ userId: string }> {
  const user = await db
    .selectFrom('users')
    .select(['id', 'password_hash', 'is_disabled', 'failed_logins', 'locked_until'])
    .where('username', '=', username)
    .executeTakeFirst();
  if (user?.locked_until && user.locked_until > now) {
    throw new LoginLockedError(Math.ceil((user.locked_until.getTime() - now.getTime()) / 1000));
  }
  const ok = await verifyPassword(user?.password_hash, password);
  if (!user || !ok) {
    if (user) {
      const failures = user.failed_logins + 1;
      const lockSeconds =
        failures >= FREE_LOGIN_ATTEMPTS
          ? Math.min(2 ** (failures - FREE_LOGIN_ATTEMPTS), MAX_LOGIN_LOCK_SECONDS)
          : 0;
      await db
        .updateTable('users')
        .set({
          failed_logins: sql`failed_logins + 1`,
          locked_until: lockSeconds ? new Date(now.getTime() + lockSeconds * 1000) : null,
        })
        .where('id', '=', user.id)
        .execute();
    }
    throw new LoginFailedError();
  }
  if (user.is_disabled) {
    throw new UnauthenticatedError(`Cannot log in: user "${username}" is disabled`, {
      hint: 'Ask an administrator to run `slipway users enable ' + username + '`',
    });
  }
  await db
    .updateTable('users')
    .set({ failed_logins: 0, locked_until: null, last_login_at: now })
    .where('id', '=', user.id)
    .execute();
  return { userId: user.id };
}

/** The name of the administrator created on first start. */
export const BOOTSTRAP_ADMIN = 'admin';

/**
 * Creates the first administrator when no user exists yet: user "admin" with the given password, or
 * a generated one (returned so the caller can print it once), bound to `admin` on the platform.
 * Several control planes starting together create it once (transaction-scoped advisory lock).
 */
export async function ensureBootstrapAdmin(
  db: Db,
  options: { password?: string } = {},
): Promise<{ created: false } | { created: true; username: string; generatedPassword?: string }> {
  await sql`SELECT pg_advisory_xact_lock(hashtext('slipway.identity.bootstrap'))`.execute(db);
  const existing = await db.selectFrom('users').select('id').limit(1).executeTakeFirst();
  if (existing) return { created: false };
  const generated = options.password ? undefined : randomToken(18);
  await createUser(db, {
    username: BOOTSTRAP_ADMIN,
    password: options.password ?? generated!,
    displayName: 'Administrator',
  });
  await grantRole(db, {
    subject: { kind: 'user', name: BOOTSTRAP_ADMIN },
    role: 'admin',
    scope: { kind: 'platform' },
    createdBy: 'bootstrap',
  });
  return generated
    ? { created: true, username: BOOTSTRAP_ADMIN, generatedPassword: generated }
    : { created: true, username: BOOTSTRAP_ADMIN };
}
