import { auditMigrations, auditRoutes } from '../audit/index.ts';
import type { AnyRoute, Clock } from '../core/index.ts';
import { identityMigrations, identityRoutes } from '../identity/index.ts';
import type { MigrationSet } from '../store/index.ts';

/** What a module's routes may depend on. */
export interface ModuleContext {
  readonly clock: Clock;
  readonly sessionTtlMs: number;
  readonly loginRateLimitPerMinute: number;
}

/** Every module's migrations, in the order they were written. Add a module here. */
export const MODULE_MIGRATIONS: readonly MigrationSet[] = [identityMigrations, auditMigrations];

/** Every module's routes. Add a module here. */
export function moduleRoutes(context: ModuleContext): AnyRoute[] {
  return [
    ...identityRoutes({
      sessionTtlMs: context.sessionTtlMs,
      loginRateLimitPerMinute: context.loginRateLimitPerMinute,
      clock: context.clock,
    }),
    ...auditRoutes(),
  ];
}
