import type { Kysely } from 'kysely';
import {
  formatScope,
  InvalidInputError,
  NotFoundError,
  newId,
  PLATFORM,
  type Role,
  roleRank,
  type Scope,
} from '../core/index.ts';
import { GroupNotFoundError, UserNotFoundError } from './errors.ts';
import type { IdentityTables, RoleBinding } from './schema.ts';

type Db = Kysely<IdentityTables>;

/** Who a binding is for. */
export interface Subject {
  readonly kind: 'user' | 'group';
  readonly name: string;
}

/**
 * Reads "platform" or "environment:NAME".
 * @throws InvalidInputError for anything else
 */
export function parseScope(text: string): Scope {
  if (text === 'platform') return PLATFORM;
  const match = /^environment:([a-z][a-z0-9-]{0,62})$/.exec(text);
  if (match) return { kind: 'environment', environment: match[1]! };
  throw new InvalidInputError(`Cannot read scope "${text}"`, {
    hint: 'Use "platform" or "environment:NAME", like "environment:staging"',
  });
}

/**
 * Reads "user:NAME" or "group:NAME".
 * @throws InvalidInputError for anything else
 */
export function parseSubject(text: string): Subject {
  const match = /^(user|group):([a-z][a-z0-9._-]{1,62})$/.exec(text);
  if (match) return { kind: match[1] as Subject['kind'], name: match[2]! };
  throw new InvalidInputError(`Cannot read subject "${text}"`, { hint: 'Use "user:NAME" or "group:NAME"' });
}

async function subjectId(db: Db, subject: Subject): Promise<string> {
  if (subject.kind === 'user') {
    const row = await db
      .selectFrom('users')
      .select('id')
      .where('username', '=', subject.name)
      .executeTakeFirst();
    if (!row) throw new UserNotFoundError(subject.name);
    return row.id;
  }
  const row = await db.selectFrom('groups').select('id').where('name', '=', subject.name).executeTakeFirst();
  if (!row) throw new GroupNotFoundError(subject.name);
  return row.id;
}

function selectBindings(db: Db) {
  return db
    .selectFrom('role_bindings as rb')
    .leftJoin('users as u', (join) =>
      join.onRef('u.id', '=', 'rb.subject_id').on('rb.subject_kind', '=', 'user'),
    )
    .leftJoin('groups as g', (join) =>
      join.onRef('g.id', '=', 'rb.subject_id').on('rb.subject_kind', '=', 'group'),
    )
    .select([
      'rb.id',
      'rb.subject_kind',
      'rb.role',
      'rb.scope_kind',
      'rb.environment',
      'rb.created_at',
      'rb.created_by',
      'u.username',
      'g.name as group_name',
    ]);
}

type BindingRow = Awaited<ReturnType<ReturnType<typeof selectBindings>['execute']>>[number];

function toBinding(row: BindingRow): RoleBinding {
  const scope: Scope =
    row.scope_kind === 'platform' ? PLATFORM : { kind: 'environment', environment: row.environment ?? '' };
  return {
    id: row.id,
    subject: row.subject_kind === 'user' ? `user:${row.username}` : `group:${row.group_name}`,
    role: row.role as Role,
    scope: formatScope(scope),
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
  };
}

/** Grants a role on a scope; granting an existing binding again returns it unchanged. */
export async function grantRole(
  db: Db,
  binding: { subject: Subject; role: Role; scope: Scope; createdBy?: string },
): Promise<RoleBinding> {
  const id = await subjectId(db, binding.subject);
  const environment = binding.scope.kind === 'environment' ? binding.scope.environment : null;
  await db
    .insertInto('role_bindings')
    .values({
      id: newId(),
      subject_kind: binding.subject.kind,
      subject_id: id,
      role: binding.role,
      scope_kind: binding.scope.kind,
      environment,
      created_by: binding.createdBy ?? null,
    })
    .onConflict((oc) => oc.doNothing())
    .execute();
  const row = await selectBindings(db)
    .where('rb.subject_kind', '=', binding.subject.kind)
    .where('rb.subject_id', '=', id)
    .where('rb.role', '=', binding.role)
    .where('rb.scope_kind', '=', binding.scope.kind)
    .where((eb) =>
      environment === null ? eb('rb.environment', 'is', null) : eb('rb.environment', '=', environment),
    )
    .executeTakeFirstOrThrow();
  return toBinding(row);
}

/**
 * Revokes a role on a scope.
 * @throws NotFoundError when the subject does not hold that binding
 */
export async function revokeRole(
  db: Db,
  binding: { subject: Subject; role: Role; scope: Scope },
): Promise<void> {
  const id = await subjectId(db, binding.subject);
  const environment = binding.scope.kind === 'environment' ? binding.scope.environment : null;
  const result = await db
    .deleteFrom('role_bindings')
    .where('subject_kind', '=', binding.subject.kind)
    .where('subject_id', '=', id)
    .where('role', '=', binding.role)
    .where('scope_kind', '=', binding.scope.kind)
    .where((eb) =>
      environment === null ? eb('environment', 'is', null) : eb('environment', '=', environment),
    )
    .executeTakeFirst();
  if (Number(result.numDeletedRows) === 0) {
    const who = `${binding.subject.kind}:${binding.subject.name}`;
    throw new NotFoundError(
      `Cannot revoke: ${who} does not hold role "${binding.role}" on ${formatScope(binding.scope)}`,
      {
        hint: `Run \`slipway roles list --subject ${who}\` to see what it holds`,
      },
    );
  }
}

/** Lists bindings, optionally for one subject and/or one scope. */
export async function listRoleBindings(
  db: Db,
  filter: { subject?: Subject; scope?: Scope } = {},
): Promise<RoleBinding[]> {
  let query = selectBindings(db);
  if (filter.subject) {
    const id = await subjectId(db, filter.subject);
    query = query.where('rb.subject_kind', '=', filter.subject.kind).where('rb.subject_id', '=', id);
  }
  if (filter.scope) {
    const scope = filter.scope;
    query = query.where('rb.scope_kind', '=', scope.kind);
    if (scope.kind === 'environment') query = query.where('rb.environment', '=', scope.environment);
  }
  const rows = await query
    .orderBy('rb.scope_kind', 'desc')
    .orderBy('rb.environment')
    .orderBy('rb.created_at')
    .execute();
  return rows.map(toBinding);
}

/**
 * The enabled users who hold at least `role` on the scope, directly or through a group. A platform
 * binding counts for every environment. Used to pick notification recipients.
 */
export async function usersWithRole(
  db: Db,
  role: Role,
  scope: Scope,
): Promise<{ username: string; email: string | null }[]> {
  const roles = ['viewer', 'developer', 'deployer', 'admin'].filter(
    (r) => roleRank(r as Role) >= roleRank(role),
  );
  const scoped = (eb: any) =>
    scope.kind === 'platform'
      ? eb('rb.scope_kind', '=', 'platform')
      : eb.or([
          eb('rb.scope_kind', '=', 'platform'),
          eb.and([eb('rb.scope_kind', '=', 'environment'), eb('rb.environment', '=', scope.environment)]),
        ]);
  const rows = await db
    .selectFrom('users as u')
    .select(['u.username', 'u.email'])
    .where('u.is_disabled', '=', false)
    .where((eb) =>
      eb.or([
        eb.exists(
          eb
            .selectFrom('role_bindings as rb')
            .select('rb.id')
            .where('rb.subject_kind', '=', 'user')
            .whereRef('rb.subject_id', '=', 'u.id')
            .where('rb.role', 'in', roles)
            .where(scoped),
        ),
        eb.exists(
          eb
            .selectFrom('role_bindings as rb')
            .innerJoin('group_members as gm', 'gm.group_id', 'rb.subject_id')
            .select('rb.id')
            .where('rb.subject_kind', '=', 'group')
            .whereRef('gm.user_id', '=', 'u.id')
            .where('rb.role', 'in', roles)
            .where(scoped),
        ),
      ]),
    )
    .orderBy('u.username')
    .execute();
  return rows;
}
