/**
 * What the Slipway API answers, as the console reads it. These mirror the server's zod schemas
 * (src/identity/schema.ts, src/audit/schema.ts, src/server/system-routes.ts); keep them in step.
 */

/** Roles, weakest first: each role can do everything the ones before it can. */
export const ROLES = ['viewer', 'developer', 'deployer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A scope as users write it: "platform" or "environment:NAME". */
export type ScopeText = string;

/** A user account. */
export interface User {
  readonly id: string;
  readonly username: string;
  readonly displayName: string | null;
  readonly email: string | null;
  readonly isDisabled: boolean;
  readonly createdAt: string;
  readonly lastLoginAt: string | null;
  readonly groups: readonly string[];
}

/** The console session: `POST /api/auth/login` and `GET /api/auth/session`. */
export interface Session {
  readonly user: User;
  readonly csrfToken: string;
  readonly expiresAt: string;
}

/** A role the caller holds, directly or through a group. */
export interface Grant {
  readonly role: Role;
  readonly scope: ScopeText;
  readonly viaGroup?: string;
}

/** `GET /api/whoami`. */
export interface WhoAmI {
  readonly username: string;
  readonly via: 'session' | 'token' | 'agent';
  readonly groups: readonly string[];
  readonly grants: readonly Grant[];
}

/** A group of users. */
export interface Group {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly members: readonly string[];
  readonly createdAt: string;
}

/** A role held by a user or group on a scope. */
export interface RoleBinding {
  readonly id: string;
  /** "user:NAME" or "group:NAME". */
  readonly subject: string;
  readonly role: Role;
  readonly scope: ScopeText;
  readonly createdAt: string;
  readonly createdBy: string | null;
}

/** A personal API token (never its value, except once when created). */
export interface ApiToken {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
}

/** `POST /api/tokens`: the only answer that carries the token's value. */
export interface CreatedToken {
  readonly token: ApiToken;
  readonly value: string;
}

/** How an audited call ended. */
export const AUDIT_OUTCOMES = ['success', 'failure', 'denied'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** One entry of the hash-chained audit log. */
export interface AuditEntry {
  readonly id: number;
  readonly at: string;
  readonly actor: string;
  readonly actorId: string | null;
  readonly action: string;
  readonly target: string | null;
  readonly outcome: AuditOutcome;
  readonly sourceIp: string | null;
  readonly requestId: string | null;
  readonly details: Readonly<Record<string, unknown>> | null;
  readonly prevHash: string;
  readonly hash: string;
}

/** `GET /api/audit/verify`. */
export interface AuditVerification {
  readonly ok: boolean;
  readonly checked: number;
  readonly headId: number;
  readonly problem?: {
    readonly entryId: number;
    readonly kind: 'edited' | 'deleted' | 'reordered' | 'truncated';
    readonly message: string;
  };
}

/** `GET /api/status`. */
export interface PlatformStatus {
  readonly version: string;
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly store: { readonly location: string; readonly reachable: boolean };
  readonly components: Readonly<Record<string, unknown>>;
}
