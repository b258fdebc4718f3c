/** @module Identity: users, sessions, API tokens, groups, role bindings and the one policy check. */

export {
  type Authentication,
  authenticateRequest,
  checkCsrf,
  type RequestCredentials,
} from './authenticate.ts';
export { CredentialCache, type CredentialCacheOptions, IDENTITY_CHANNEL } from './credential-cache.ts';
export { addGroupMember, createGroup } from './groups.ts';
export { BOOTSTRAP_ADMIN, checkLogin, ensureBootstrapAdmin } from './login.ts';
export { identityMigrations } from './migrations.ts';
export { authorize, isAllowed } from './policy.ts';
export {
  grantRole,
  listRoleBindings,
  parseScope,
  parseSubject,
  revokeRole,
  type Subject,
  usersWithRole,
} from './role-bindings.ts';
export { type IdentityRouteOptions, identityRoutes } from './routes.ts';
export {
  ApiToken,
  EnvironmentName,
  Group,
  GroupName,
  type IdentityTables,
  RoleBinding,
  RoleName,
  ScopeText,
  SubjectText,
  User,
  Username,
} from './schema.ts';
export { SESSION_COOKIE, sweepExpiredSessions } from './sessions.ts';
export { createApiToken } from './tokens.ts';
export { countUsers, createUser, findUser, getUser, listUsers, setUserDisabled } from './users.ts';
