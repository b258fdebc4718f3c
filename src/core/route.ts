import type { Readable } from 'node:stream';
import type {} from '@fastify/cookie';
import type { FastifyReply } from 'fastify';
import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { MachineAccess, MachinePrincipal, Principal, Role, Scope } from './access.ts';

/** HTTP methods a route can answer. */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a route's validated input looks like to its handler. */
export interface RouteInput<B, Q, P> {
  readonly body: B;
  readonly query: Q;
  readonly params: P;
}

/**
 * Who may call a route.
 * - `public`: anyone; keep this to the reviewed allow-list (health, login, static files, webhooks
 *   that check their own signatures).
 * - `authenticated`: any signed-in, enabled user; the handler checks anything finer.
 * - `{ role, scope }`: the caller must hold `role` (or a stronger one) on the scope; a platform
 *   binding covers every environment.
 *   With `agents: true` the route also admits a host agent (its host credential), but only when the
 *   scope is the environment of its own host: a reviewed exception for what agents must read with
 *   a user-shaped client (apt reading its environment's channel). Its credential opens nothing else.
 * - `agent` / `agent-join`: a machine, not a person: a host agent with its host credential, or a new
 *   host with its one-time join token (see MachineAccess); user credentials are refused there.
 */
export type RouteAccess<I> =
  | 'public'
  | 'authenticated'
  | MachineAccess
  | {
      readonly role: Role;
      readonly scope: Scope | ((input: I) => Scope);
      /** Host agents may call it for the environment of their own host. @default false */
      readonly agents?: true;
    };

/** How a mutating (or read-audited) route appears in the audit log. */
export interface RouteAudit<I> {
  /** A dotted verb such as "users.create". */
  readonly action: string;
  /**
   * Whether successful calls are recorded. Telemetry a machine sends every few seconds (an agent's
   * status report) sets false: its denied and failed calls are still recorded. @default true
   */
  readonly successes?: boolean;
  /** What the call acts on, such as "user:alice"; never a secret. */
  readonly target?: (input: I) => string;
}

/** Per-request facts and tools handed to a handler. */
export interface RouteContext<I> {
  readonly input: I;
  /** The caller; undefined only on public routes when nobody is signed in, and on machine routes. */
  readonly principal: Principal | undefined;
  /** The machine calling a route with `agent` or `agent-join` access. */
  readonly machine?: MachinePrincipal;
  /** The database; inside a transaction for mutating routes, committed with the audit entry. */
  readonly db: Kysely<any>;
  readonly requestId: string;
  readonly sourceIp: string;
  /** Facts to add to this call's audit entry (safe values only). */
  readonly audit: { target?: string; details?: Record<string, unknown>; actor?: string };
  /** The console session behind the call, when it came with the session cookie. */
  readonly session?: { readonly csrfToken: string; readonly expiresAt: Date };
  /** The request body exactly as received, for routes declaring `rawBody: 'buffer'` (webhook HMACs). */
  readonly rawBody?: Buffer;
  /**
   * The unread request body, for routes declaring `rawBody: 'stream'` (uploads). Nothing has been
   * read when the handler starts, so authentication and authorisation run before a byte is stored.
   */
  readonly bodyStream?: Readable;
  /** Throws ForbiddenError unless the caller holds `role` on `scope`. */
  authorize(role: Role, scope: Scope): void;
  /** The raw reply, for headers, cookies and streams. */
  readonly reply: FastifyReply;
}

/** One HTTP route: its contract (schemas, access, audit) and its handler. */
export interface RouteDefinition<
  B extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  P extends z.ZodType = z.ZodType,
  R extends z.ZodType = z.ZodType,
> {
  readonly method: HttpMethod;
  /** Fastify-style path, such as "/api/users/:username". */
  readonly path: string;
  /** One line for the OpenAPI document. */
  readonly summary: string;
  readonly tags?: readonly string[];
  readonly access: RouteAccess<RouteInput<z.output<B>, z.output<Q>, z.output<P>>>;
  readonly body?: B;
  readonly query?: Q;
  readonly params?: P;
  /** Schema of the success body; checked in tests, documented in OpenAPI. */
  readonly response?: R;
  /** @default 200, or 201 for POST */
  readonly successStatus?: number;
  /** Required for every method but GET, and for a GET with `auditReads`. */
  readonly audit?: RouteAudit<RouteInput<z.output<B>, z.output<Q>, z.output<P>>>;
  /**
   * Audit this GET like a write: one entry per call, whether it succeeds, fails or is refused, written
   * before the answer leaves (no entry, no answer). For reads of sensitive data, such as secret values.
   * @default false
   */
  readonly auditReads?: boolean;
  /**
   * Whether the handler runs in one transaction with its audit entry.
   * @default true for mutating methods
   */
  readonly transaction?: boolean;
  /**
   * Route-specific limit on the request body, in bytes; with `rawBody: 'stream'` the handler
   * enforces it while reading. @default 1 MiB
   */
  readonly bodyLimit?: number;
  /**
   * Hands the handler the body as received instead of parsed JSON, whatever its content type:
   * `'buffer'` reads it whole (up to `bodyLimit`) into `context.rawBody`; `'stream'` passes the unread
   * stream as `context.bodyStream`. Such a route declares no `body` schema.
   */
  readonly rawBody?: 'buffer' | 'stream';
  /** Requests allowed per source address in a window (login-style routes). */
  readonly rateLimit?: { readonly max: number; readonly windowMs: number };
  /** When true, the handler writes the reply itself (streams, files) and returns undefined. */
  readonly raw?: boolean;
  readonly handler: (
    context: RouteContext<RouteInput<z.output<B>, z.output<Q>, z.output<P>>>,
  ) => Promise<z.output<R> | undefined>;
}

/** A route with its type parameters erased, as the server holds them. */
export type AnyRoute = RouteDefinition<any, any, any, any>;

/** Declares a route; a typed identity function so handlers see their parsed input. */
export function defineRoute<
  B extends z.ZodType = z.ZodUndefined,
  Q extends z.ZodType = z.ZodUndefined,
  P extends z.ZodType = z.ZodUndefined,
  R extends z.ZodType = z.ZodType,
>(route: RouteDefinition<B, Q, P, R>): AnyRoute {
  return route as AnyRoute;
}
