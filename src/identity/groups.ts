import { type Kysely, type Selectable, sql } from 'kysely';
import { newId } from '../core/index.ts';
import { GroupExistsError, GroupNotFoundError } from './errors.ts';
import type { Group, IdentityTables } from './schema.ts';
import { getUser } from './users.ts';

type Db = Kysely<IdentityTables>;

function selectGroups(db: Db) {
  return db
    .selectFrom('groups')
    .selectAll('groups')
    .select(
      sql<string[]>`(SELECT coalesce(array_agg(u.username ORDER BY u.username), '{}') FROM group_members gm
        JOIN users u ON u.id = gm.user_id WHERE gm.group_id = groups.id)`.as('members'),
    );
}

function toGroup(row: Selectable<IdentityTables['groups']> & { members: string[] | null }): Group {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    members: row.members ?? [],
    createdAt: row.created_at.toISOString(),
  };
}

/**
 * Creates a group.
 * @throws GroupExistsError
 */
export async function createGroup(db: Db, name: string, description?: string): Promise<Group> {
  const inserted = await db
    .insertInto('groups')
    .values({ id: newId(), name, description: description ?? null })
    .onConflict((oc) => oc.column('name').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!inserted) throw new GroupExistsError(name);
  return getGroup(db, name);
}

/** Lists groups with their members. */
export async function listGroups(db: Db): Promise<Group[]> {
  return (await selectGroups(db).orderBy('name').execute()).map(toGroup);
}

/**
 * Finds a group by name.
 * @throws GroupNotFoundError
 */
export async function getGroup(db: Db, name: string): Promise<Group> {
  const row = await selectGroups(db).where('name', '=', name).executeTakeFirst();
  if (!row) throw new GroupNotFoundError(name);
  return toGroup(row);
}

/** Deletes a group, its memberships and its role bindings. */
export async function deleteGroup(db: Db, name: string): Promise<void> {
  const group = await getGroup(db, name);
  await db
    .deleteFrom('role_bindings')
    .where('subject_kind', '=', 'group')
    .where('subject_id', '=', group.id)
    .execute();
  await db.deleteFrom('groups').where('id', '=', group.id).execute();
}

/** Adds a user to a group; adding a member twice changes nothing. */
export async function addGroupMember(db: Db, groupName: string, username: string): Promise<Group> {
  const group = await getGroup(db, groupName);
  const user = await getUser(db, username);
  await db
    .insertInto('group_members')
    .values({ group_id: group.id, user_id: user.id })
    .onConflict((oc) => oc.columns(['group_id', 'user_id']).doNothing())
    .execute();
  return getGroup(db, groupName);
}

/** Removes a user from a group; removing a non-member changes nothing. */
export async function removeGroupMember(db: Db, groupName: string, username: string): Promise<Group> {
  const group = await getGroup(db, groupName);
  const user = await getUser(db, username);
  await db
    .deleteFrom('group_members')
    .where('group_id', '=', group.id)
    .where('user_id', '=', user.id)
    .execute();
  return getGroup(db, groupName);
}
