/**
 * The words of access control that every module shares: roles, scopes and the authenticated
 * principal. The policy itself (who holds which role) lives in the identity module.
 */

/** Roles, weakest first: each role can do everything the ones before it can. */
export const Role = {
  Viewer: 'viewer',
  Developer: 'developer',
  Deployer: 'deployer',
  Admin: 'admin',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/** Every role, weakest first. */
export const ROLES: readonly Role[] = [Role.Viewer, Role.Developer, Role.Deployer, Role.Admin];

/** Rank of a role: a role covers every role of lower or equal rank. */
export function roleRank(role: Role): number {
  return ROLES.indexOf(role);
}

/** Where a role binding applies: the whole platform, or one environment by name. */
export type Scope =
  | { readonly kind: 'platform' }
  | { readonly kind: 'environment'; readonly environment: string };

/** The platform scope. */
export const PLATFORM: Scope = { kind: 'platform' };

/** The scope of one environment. */
export function environmentScope(environment: string): Scope {
  return { kind: 'environment', environment };
}

/** Formats a scope the way users write it: "platform" or "environment:staging". */
export function formatScope(scope: Scope): string {
  return scope.kind === 'platform' ? 'platform' : `environment:${scope.environment}`;
}

/** A role held on a scope, directly or through a group. */
export interface Grant {
  readonly role: Role;
  readonly scope: Scope;
  /** The group the grant comes through, when it is not the user's own binding. */
  readonly viaGroup?: string;
}

/** Who is calling: an authenticated user, with how they authenticated and what they hold. */
export interface Principal {
  readonly userId: string;
  readonly username: string;
  readonly isDisabled: boolean;
  /** 'session' for the console's cookie, 'token' for a personal API token, 'agent' for a host agent. */
  readonly via: 'session' | 'token' | 'agent';
  /** The session or token id (never the secret). */
  readonly credentialId: string;
  readonly groups: readonly string[];
  readonly grants: readonly Grant[];
}

/**
 * Route access words for machines rather than people: `agent` admits a host agent presenting its
 * own host credential; `agent-join` admits a new host presenting its one-time join token.
 */
export type MachineAccess = 'agent' | 'agent-join';

/** A machine (a host agent) that authenticated with a credential a module issued to it. */
export interface MachinePrincipal {
  /** Which machine access the credential opens. */
  readonly kind: MachineAccess;
  /** The machine's id (a host id). */
  readonly id: string;
  /** How the audit log names it, such as "host:staging/web-1". */
  readonly name: string;
  /** The credential's id (never the secret). */
  readonly credentialId: string;
  /** Safe facts the issuing module attaches, such as the host's environment. */
  readonly attributes: Readonly<Record<string, string>>;
}
