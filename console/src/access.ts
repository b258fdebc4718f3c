/**
 * The console's reading of the caller's grants, to hide what they cannot do. It mirrors the server's
 * policy (src/identity/policy.ts); the server checks every call anyway.
 */
import { type Grant, ROLES, type Role, type ScopeText } from './api/types.ts';

/** The platform scope. */
export const PLATFORM = 'platform';

/** Whether `held` covers `needed` (a role covers every weaker one). */
export function roleCovers(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}

/**
 * Whether the grants hold `role` (or a stronger one) on `scope`. A platform grant covers every
 * environment; an environment grant covers only that environment.
 */
export function holdsRole(grants: readonly Grant[], role: Role, scope: ScopeText = PLATFORM): boolean {
  return grants.some(
    (grant) =>
      roleCovers(grant.role, role) &&
      (grant.scope === PLATFORM || (scope !== PLATFORM && grant.scope === scope)),
  );
}

/** Whether the grants hold `role` (or a stronger one) on at least one scope. */
export function holdsRoleAnywhere(grants: readonly Grant[], role: Role): boolean {
  return grants.some((grant) => roleCovers(grant.role, role));
}

/** The environment scopes ("environment:NAME") the grants name, sorted. */
export function environmentScopes(grants: readonly Grant[]): string[] {
  return [...new Set(grants.map((grant) => grant.scope).filter((scope) => scope !== PLATFORM))].sort();
}
