import {
  ForbiddenError,
  formatScope,
  type Principal,
  type Role,
  roleRank,
  type Scope,
} from '../core/index.ts';

/**
 * The one policy check: does the principal hold `role` (or a stronger one) on `scope`?
 * A platform binding covers every environment; an environment binding covers only that
 * environment. Disabled users hold nothing. Anything not granted is denied.
 */
export function isAllowed(principal: Principal | undefined, role: Role, scope: Scope): boolean {
  if (!principal || principal.isDisabled) return false;
  const needed = roleRank(role);
  return principal.grants.some(
    (grant) =>
      roleRank(grant.role) >= needed &&
      (grant.scope.kind === 'platform' ||
        (scope.kind === 'environment' && grant.scope.environment === scope.environment)),
  );
}

/**
 * Throws unless the principal holds `role` on `scope`.
 * @throws ForbiddenError naming the role and scope that were needed
 */
export function authorize(principal: Principal | undefined, role: Role, scope: Scope): void {
  if (isAllowed(principal, role, scope)) return;
  const who = principal ? `user "${principal.username}"` : 'an anonymous caller';
  throw new ForbiddenError(`Not allowed: ${who} needs role "${role}" on ${formatScope(scope)}`, {
    hint: `Ask an administrator to run \`slipway roles grant user:${principal?.username ?? 'NAME'} ${role} --scope ${formatScope(scope)}\``,
    details: { requiredRole: role, scope: formatScope(scope) },
  });
}
