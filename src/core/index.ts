/** @module The shared kernel: errors, access words, the route contract, clock, ids, logging. */

export {
  environmentScope,
  formatScope,
  type Grant,
  type MachineAccess,
  type MachinePrincipal,
  PLATFORM,
  type Principal,
  ROLES,
  Role,
  roleRank,
  type Scope,
} from './access.ts';
export { type Clock, ManualClock, SYSTEM_CLOCK } from './clock.ts';
export { mergeSources, parseConfig } from './config.ts';
export { parseDuration } from './duration.ts';
export {
  ConfigError,
  ConflictError,
  ERROR_CODE_TABLE,
  ErrorCode,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  SlipwayError,
  type SlipwayErrorOptions,
  toSlipwayError,
  UnauthenticatedError,
  UnavailableError,
} from './errors.ts';
export { newId, randomToken } from './ids.ts';
export { createLogger, type Logger, type LoggerOptions, REDACTED_PATHS } from './logger.ts';
export {
  type AnyRoute,
  defineRoute,
  type HttpMethod,
  type RouteAccess,
  type RouteAudit,
  type RouteContext,
  type RouteDefinition,
  type RouteInput,
} from './route.ts';
export { closed } from './streams.ts';
export { PACKAGE_ROOT, SLIPWAY_VERSION } from './version.ts';
