import { type Kysely, type Selectable, sql } from 'kysely';
import { newId } from '../core/index.ts';
import { UserExistsError, UserNotFoundError } from './errors.ts';
import { hashPassword } from './passwords.ts';
import type { CreateUserBody, IdentityTables, User } from './schema.ts';

type Db = Kysely<IdentityTables>;

function toUser(row: Selectable<IdentityTables['users']> & { groups: string[] | null }): User {
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    email: row.email,
    isDisabled: row.is_disabled,
    createdAt: row.created_at.toISOString(),
    lastLoginAt: row.last_login_at?.toISOString() ?? null,
    groups: row.groups ?? [],
  };
}

function selectUsers(db: Db) {
  return db
    .selectFrom('users')
    .selectAll('users')
    .select(
      sql<string[]>`(SELECT coalesce(array_agg(g.name ORDER BY g.name), '{}') FROM group_members gm
        JOIN groups g ON g.id = gm.group_id WHERE gm.user_id = users.id)`.as('groups'),
    );
}

/**
 * Creates a user with an argon2id password hash.
 * @throws UserExistsError when the username is taken
 */
export async function createUser(db: Db, input: CreateUserBody): Promise<User> {
  const passwordHash = await hashPassword(input.password);
  const id = newId();
  const inserted = await db
    .insertInto('users')
    .values({
      id,
      username: input.username,
      display_name: input.displayName ?? null,
      email: input.email ?? null,
      password_hash: passwordHash,
    })
    .onConflict((oc) => oc.column('username').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!inserted) throw new UserExistsError(input.username);
  return getUser(db, input.username);
}

/** Lists users by name. */
export async function listUsers(db: Db): Promise<User[]> {
  const rows = await selectUsers(db).orderBy('username').execute();
  return rows.map(toUser);
}

/** Finds a user by name, or undefined. */
export async function findUser(db: Db, username: string): Promise<User | undefined> {
  const row = await selectUsers(db).where('username', '=', username).executeTakeFirst();
  return row ? toUser(row) : undefined;
}

/**
 * Finds a user by name.
 * @throws UserNotFoundError
 */
export async function getUser(db: Db, username: string): Promise<User> {
  const user = await findUser(db, username);
  if (!user) throw new UserNotFoundError(username);
  return user;
}

/**
 * Disables or re-enables a user. Disabling also ends their sessions; their API tokens stop
 * working while they are disabled.
 */
export async function setUserDisabled(db: Db, username: string, disabled: boolean): Promise<User> {
  const user = await getUser(db, username);
  await db
    .updateTable('users')
    .set({
      is_disabled: disabled,
      updated_at: new Date(),
      ...(disabled ? {} : { failed_logins: 0, locked_until: null }),
    })
    .where('id', '=', user.id)
    .execute();
  if (disabled) await db.deleteFrom('sessions').where('user_id', '=', user.id).execute();
  return getUser(db, username);
}

/** Replaces a user's password and ends their sessions. */
export async function setUserPassword(db: Db, username: string, password: string): Promise<void> {
  const user = await getUser(db, username);
  await db
    .updateTable('users')
    .set({
      password_hash: await hashPassword(password),
      updated_at: new Date(),
      failed_logins: 0,
      locked_until: null,
    })
    .where('id', '=', user.id)
    .execute();
  await db.deleteFrom('sessions').where('user_id', '=', user.id).execute();
}

/** How many users exist. */
export async function countUsers(db: Db): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
