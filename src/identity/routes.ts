import { z } from 'zod';
import {
  type AnyRoute,
  type Clock,
  defineRoute,
  environmentScope,
  ForbiddenError,
  InvalidInputError,
  PLATFORM,
  type Principal,
  ROLES,
  type Role,
  type RouteContext,
  SYSTEM_CLOCK,
} from '../core/index.ts';
import {
  addGroupMember,
  createGroup,
  deleteGroup,
  getGroup,
  listGroups,
  removeGroupMember,
} from './groups.ts';
import { checkLogin } from './login.ts';
import { isAllowed } from './policy.ts';
import { grantRole, listRoleBindings, parseScope, parseSubject, revokeRole } from './role-bindings.ts';
import {
  ApiToken,
  CreateUserBody,
  EnvironmentName,
  Group,
  GroupName,
  NewPassword,
  RoleBinding,
  RoleName,
  ScopeText,
  SubjectText,
  User,
  Username,
} from './schema.ts';
import { createSession, deleteSession, SESSION_COOKIE } from './sessions.ts';
import { createApiToken, listApiTokens, revokeApiToken } from './tokens.ts';
import { createUser, getUser, listUsers, setUserDisabled, setUserPassword } from './users.ts';

/** What the identity routes need from the server. */
export interface IdentityRouteOptions {
  /** How long a console session lasts. */
  readonly sessionTtlMs: number;
  /** Login attempts per source address per minute. @default 20 */
  readonly loginRateLimitPerMinute?: number;
  readonly clock?: Clock;
}

const Grant = z.object({ role: RoleName, scope: z.string(), viaGroup: z.string().optional() });
const WhoAmI = z.object({
  username: z.string(),
  via: z.enum(['session', 'token', 'agent']),
  groups: z.array(z.string()),
  grants: z.array(Grant),
});
const Credentials = z.strictObject({ username: Username, password: z.string().min(1).max(256) });
const UsernameParams = z.strictObject({ username: Username });
const GroupParams = z.strictObject({ name: GroupName });
const Binding = z.strictObject({
  subject: SubjectText,
  role: RoleName,
  scope: ScopeText.default('platform'),
});
const Session = z.object({ user: User, csrfToken: z.string(), expiresAt: z.string() });

function whoAmI(principal: Principal): z.infer<typeof WhoAmI> {
  return {
    username: principal.username,
    via: principal.via,
    groups: [...principal.groups],
    grants: principal.grants.map((g) => ({
      role: g.role,
      scope: g.scope.kind === 'platform' ? 'platform' : `environment:${g.scope.environment}`,
      ...(g.viaGroup ? { viaGroup: g.viaGroup } : {}),
    })),
  };
}

function me(context: RouteContext<unknown>): Principal {
  // Routes that are not public always have a principal; this keeps the types honest.
  if (!context.principal) throw new ForbiddenError('Not allowed: sign in first');
  return context.principal;
}

/** The identity module's HTTP routes: login, sessions, tokens, users, groups and role bindings. */
export function identityRoutes(options: IdentityRouteOptions): AnyRoute[] {
  const clock = options.clock ?? SYSTEM_CLOCK;
  const loginLimit = { max: options.loginRateLimitPerMinute ?? 20, windowMs: 60_000 };

  return [
    defineRoute({
      method: 'POST',
      path: '/api/auth/login',
      summary: 'Log in to the console: sets the session cookie and returns the CSRF token',
      tags: ['auth'],
      access: 'public',
      body: Credentials,
      response: Session,
      successStatus: 200,
      rateLimit: loginLimit,
      // A failed attempt must count even though the request fails, so no request-wide transaction.
      transaction: false,
      audit: { action: 'auth.login', target: ({ body }) => `user:${body?.username ?? 'unknown'}` },
      async handler(context) {
        const { username, password } = context.input.body;
        context.audit.actor = username;
        const { userId } = await checkLogin(context.db, username, password, clock.now());
        const session = await createSession(context.db, userId, {
          ttlMs: options.sessionTtlMs,
          now: clock.now(),
          sourceIp: context.sourceIp,
        });
        context.reply.setCookie(SESSION_COOKIE, session.cookieValue, {
          path: '/',
          httpOnly: true,
          sameSite: 'strict',
          secure: context.reply.request.protocol === 'https',
          expires: session.expiresAt,
        });
        context.audit.details = { session: session.id };
        return {
          user: await getUser(context.db, username),
          csrfToken: session.csrfToken,
          expiresAt: session.expiresAt.toISOString(),
        };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/auth/token',
      summary: 'Exchange a username and password for a personal API token (used by `slipway login`)',
      tags: ['auth'],
      access: 'public',
      body: Credentials.extend({
        name: z.string().min(1).max(100).default('cli'),
        expiresInDays: z.number().int().min(1).max(366).default(30),
      }),
      response: z.object({ token: ApiToken, value: z.string(), username: z.string() }),
      rateLimit: loginLimit,
      transaction: false,
      audit: { action: 'auth.token', target: ({ body }) => `user:${body?.username ?? 'unknown'}` },
      async handler(context) {
        const { username, password, name, expiresInDays } = context.input.body;
        context.audit.actor = username;
        const { userId } = await checkLogin(context.db, username, password, clock.now());
        const expiresAt = new Date(clock.now().getTime() + expiresInDays * 86_400_000);
        const uniqueName = `${name}-${clock
          .now()
          .toISOString()
          .replace(/[-:.TZ]/g, '')
          .slice(0, 14)}`;
        const { token, value } = await createApiToken(context.db, userId, { name: uniqueName, expiresAt });
        context.audit.details = { token: token.id };
        return { token, value, username };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/auth/logout',
      summary: 'End the console session',
      tags: ['auth'],
      access: 'authenticated',
      response: z.object({ ok: z.literal(true) }),
      successStatus: 200,
      audit: { action: 'auth.logout' },
      async handler(context) {
        const principal = me(context);
        if (principal.via === 'session') await deleteSession(context.db, principal.credentialId);
        context.reply.clearCookie(SESSION_COOKIE, { path: '/' });
        return { ok: true as const };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/auth/session',
      summary: 'The current console session: user and CSRF token',
      tags: ['auth'],
      access: 'authenticated',
      response: Session,
      async handler(context) {
        const principal = me(context);
        if (!context.session) {
          throw new InvalidInputError('This call needs a console session, not an API token', {
            hint: 'Log in through the console or POST /api/auth/login',
          });
        }
        return {
          user: await getUser(context.db, principal.username),
          csrfToken: context.session.csrfToken,
          expiresAt: context.session.expiresAt.toISOString(),
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/whoami',
      summary: 'Who the caller is: username, groups and role grants',
      tags: ['auth'],
      access: 'authenticated',
      response: WhoAmI,
      async handler(context) {
        return whoAmI(me(context));
      },
    }),

    // Personal API tokens: every user manages their own.
    defineRoute({
      method: 'GET',
      path: '/api/tokens',
      summary: "List the caller's API tokens",
      tags: ['tokens'],
      access: 'authenticated',
      response: z.array(ApiToken),
      async handler(context) {
        return listApiTokens(context.db, me(context).userId);
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/tokens',
      summary: 'Create a personal API token; its value is returned once',
      tags: ['tokens'],
      access: 'authenticated',
      body: z.strictObject({
        name: z
          .string()
          .min(1)
          .max(100)
          .regex(/^[\w.@ -]+$/, 'use letters, digits, spaces and "._@-"'),
        expiresInDays: z.number().int().min(1).max(3660).optional(),
      }),
      response: z.object({ token: ApiToken, value: z.string() }),
      audit: { action: 'tokens.create', target: ({ body }) => `token:${body.name}` },
      async handler(context) {
        const { name, expiresInDays } = context.input.body;
        const expiresAt = expiresInDays
          ? new Date(clock.now().getTime() + expiresInDays * 86_400_000)
          : undefined;
        const result = await createApiToken(context.db, me(context).userId, {
          name,
          ...(expiresAt ? { expiresAt } : {}),
        });
        context.audit.target = `token:${result.token.id}`;
        context.audit.details = { name };
        return result;
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/tokens/:id',
      summary: "Revoke one of the caller's API tokens",
      tags: ['tokens'],
      access: 'authenticated',
      params: z.strictObject({ id: z.uuid('use a token id from `slipway tokens list`') }),
      response: ApiToken,
      successStatus: 200,
      audit: { action: 'tokens.revoke', target: ({ params }) => `token:${params.id}` },
      async handler(context) {
        return revokeApiToken(context.db, me(context).userId, context.input.params.id);
      },
    }),

    // Users.
    defineRoute({
      method: 'GET',
      path: '/api/users',
      summary: 'List users',
      tags: ['users'],
      access: { role: 'viewer', scope: PLATFORM },
      response: z.array(User),
      async handler(context) {
        return listUsers(context.db);
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/users',
      summary: 'Create a user',
      tags: ['users'],
      access: { role: 'admin', scope: PLATFORM },
      body: CreateUserBody,
      response: User,
      audit: { action: 'users.create', target: ({ body }) => `user:${body.username}` },
      async handler(context) {
        return createUser(context.db, context.input.body);
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/users/:username',
      summary: 'Show a user',
      tags: ['users'],
      access: { role: 'viewer', scope: PLATFORM },
      params: UsernameParams,
      response: User,
      async handler(context) {
        return getUser(context.db, context.input.params.username);
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/users/:username/disable',
      summary: 'Disable a user: their sessions end and their tokens stop working',
      tags: ['users'],
      access: { role: 'admin', scope: PLATFORM },
      params: UsernameParams,
      response: User,
      successStatus: 200,
      audit: { action: 'users.disable', target: ({ params }) => `user:${params.username}` },
      async handler(context) {
        if (context.input.params.username === me(context).username) {
          throw new InvalidInputError('Cannot disable your own account', {
            hint: 'Ask another administrator to do it',
          });
        }
        return setUserDisabled(context.db, context.input.params.username, true);
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/users/:username/enable',
      summary: 'Enable a disabled user',
      tags: ['users'],
      access: { role: 'admin', scope: PLATFORM },
      params: UsernameParams,
      response: User,
      successStatus: 200,
      audit: { action: 'users.enable', target: ({ params }) => `user:${params.username}` },
      async handler(context) {
        return setUserDisabled(context.db, context.input.params.username, false);
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/users/:username/password',
      summary: "Set a user's password (administrators) and end their sessions",
      tags: ['users'],
      access: { role: 'admin', scope: PLATFORM },
      params: UsernameParams,
      body: z.strictObject({ password: NewPassword }),
      response: z.object({ ok: z.literal(true) }),
      successStatus: 200,
      audit: { action: 'users.set-password', target: ({ params }) => `user:${params.username}` },
      async handler(context) {
        await setUserPassword(context.db, context.input.params.username, context.input.body.password);
        return { ok: true as const };
      },
    }),

    // Groups.
    defineRoute({
      method: 'GET',
      path: '/api/groups',
      summary: 'List groups and their members',
      tags: ['groups'],
      access: { role: 'viewer', scope: PLATFORM },
      response: z.array(Group),
      async handler(context) {
        return listGroups(context.db);
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/groups',
      summary: 'Create a group',
      tags: ['groups'],
      access: { role: 'admin', scope: PLATFORM },
      body: z.strictObject({ name: GroupName, description: z.string().max(500).optional() }),
      response: Group,
      audit: { action: 'groups.create', target: ({ body }) => `group:${body.name}` },
      async handler(context) {
        return createGroup(context.db, context.input.body.name, context.input.body.description);
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/groups/:name',
      summary: 'Show a group',
      tags: ['groups'],
      access: { role: 'viewer', scope: PLATFORM },
      params: GroupParams,
      response: Group,
      async handler(context) {
        return getGroup(context.db, context.input.params.name);
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/groups/:name',
      summary: 'Delete a group with its memberships and role bindings',
      tags: ['groups'],
      access: { role: 'admin', scope: PLATFORM },
      params: GroupParams,
      response: z.object({ ok: z.literal(true) }),
      successStatus: 200,
      audit: { action: 'groups.delete', target: ({ params }) => `group:${params.name}` },
      async handler(context) {
        await deleteGroup(context.db, context.input.params.name);
        return { ok: true as const };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/groups/:name/members',
      summary: 'Add a user to a group',
      tags: ['groups'],
      access: { role: 'admin', scope: PLATFORM },
      params: GroupParams,
      body: z.strictObject({ username: Username }),
      response: Group,
      successStatus: 200,
      audit: { action: 'groups.add-member', target: ({ params }) => `group:${params.name}` },
      async handler(context) {
        context.audit.details = { member: context.input.body.username };
        return addGroupMember(context.db, context.input.params.name, context.input.body.username);
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/groups/:name/members/:username',
      summary: 'Remove a user from a group',
      tags: ['groups'],
      access: { role: 'admin', scope: PLATFORM },
      params: z.strictObject({ name: GroupName, username: Username }),
      response: Group,
      successStatus: 200,
      audit: { action: 'groups.remove-member', target: ({ params }) => `group:${params.name}` },
      async handler(context) {
        context.audit.details = { member: context.input.params.username };
        return removeGroupMember(context.db, context.input.params.name, context.input.params.username);
      },
    }),

    // Role bindings. Platform admins manage every binding; an environment's admins manage that
    // environment's bindings.
    defineRoute({
      method: 'GET',
      path: '/api/role-bindings',
      summary: 'List role bindings, optionally for one subject or scope',
      tags: ['roles'],
      access: {
        role: 'viewer',
        scope: ({ query }) =>
          query.scope && query.scope !== 'platform' ? parseScope(query.scope) : PLATFORM,
      },
      query: z.strictObject({ subject: SubjectText.optional(), scope: ScopeText.optional() }),
      response: z.array(RoleBinding),
      async handler(context) {
        const { subject, scope } = context.input.query;
        return listRoleBindings(context.db, {
          ...(subject ? { subject: parseSubject(subject) } : {}),
          ...(scope ? { scope: parseScope(scope) } : {}),
        });
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/role-bindings',
      summary: 'Grant a role on a scope to a user or group',
      tags: ['roles'],
      access: { role: 'admin', scope: ({ body }) => parseScope(body.scope) },
      body: Binding,
      response: RoleBinding,
      audit: {
        action: 'roles.grant',
        target: ({ body }) => `${body.subject}`,
      },
      async handler(context) {
        const { subject, role, scope } = context.input.body;
        context.audit.details = { role, scope };
        return grantRole(context.db, {
          subject: parseSubject(subject),
          role: role as Role,
          scope: parseScope(scope),
          createdBy: me(context).username,
        });
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/role-bindings/revoke',
      summary: 'Revoke a role on a scope from a user or group',
      tags: ['roles'],
      access: { role: 'admin', scope: ({ body }) => parseScope(body.scope) },
      body: Binding,
      response: z.object({ ok: z.literal(true) }),
      successStatus: 200,
      audit: { action: 'roles.revoke', target: ({ body }) => `${body.subject}` },
      async handler(context) {
        const { subject, role, scope } = context.input.body;
        context.audit.details = { role, scope };
        const parsed = parseSubject(subject);
        if (
          parsed.kind === 'user' &&
          parsed.name === me(context).username &&
          role === 'admin' &&
          scope === 'platform'
        ) {
          throw new InvalidInputError('Cannot revoke your own platform administrator role', {
            hint: 'Ask another platform administrator to do it, so the platform always keeps one',
          });
        }
        await revokeRole(context.db, { subject: parsed, role: role as Role, scope: parseScope(scope) });
        return { ok: true as const };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/environments/:environment/access',
      summary: "The caller's effective role on an environment (environments need not exist yet)",
      tags: ['roles'],
      access: 'authenticated',
      params: z.strictObject({ environment: EnvironmentName }),
      response: z.object({ environment: z.string(), role: RoleName.nullable() }),
      async handler(context) {
        const principal = me(context);
        const scope = environmentScope(context.input.params.environment);
        const held = [...ROLES].reverse().find((role) => isAllowed(principal, role, scope));
        return { environment: context.input.params.environment, role: held ?? null };
      },
    }),
  ];
}
