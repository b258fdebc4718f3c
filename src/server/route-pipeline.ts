import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { type AuditRecord, appendAudit } from '../audit/index.ts';
import {
  type AnyRoute,
  type Clock,
  ErrorCode,
  ForbiddenError,
  formatScope,
  InvalidInputError,
  type MachineAccess,
  type MachinePrincipal,
  type Principal,
  type Role,
  type Scope,
  SlipwayError,
  UnauthenticatedError,
} from '../core/index.ts';
import {
  type Authentication,
  authenticateRequest,
  authorize,
  type CredentialCache,
  checkCsrf,
  SESSION_COOKIE,
} from '../identity/index.ts';
import { inTransaction, type Store } from '../store/index.ts';
import { fromFastifyError } from './http-errors.ts';

/** What the request pipeline needs. */
export interface PipelineDeps {
  readonly store: Store;
  readonly clock: Clock;
  /** Resolved credentials, invalidated across replicas by database notifications. */
  readonly credentialCache?: CredentialCache;
}

/**
 * Authenticates the bearer credentials a module issues to machines (a host agent's credential, a
 * join token), recognised by their prefix. Identity never sees them; user routes refuse them.
 */
export interface MachineAuthenticator {
  /** The credential's prefix, such as "sla_". */
  readonly prefix: string;
  /**
   * The machine the credential belongs to.
   * @throws UnauthenticatedError when it is unknown, wrong, used up or revoked
   */
  authenticate(db: Store['db'], credential: string, now: Date): Promise<MachinePrincipal>;
}

const MACHINE_AUTHENTICATORS = new Map<string, MachineAuthenticator>();

/** Registers the modules' machine authenticators (once per prefix; the server does this at start). */
export function registerMachineAuthenticators(authenticators: readonly MachineAuthenticator[]): void {
  for (const authenticator of authenticators) MACHINE_AUTHENTICATORS.set(authenticator.prefix, authenticator);
}

const MACHINE_ACCESS: ReadonlySet<unknown> = new Set<MachineAccess>(['agent', 'agent-join']);

function machineCredentialRequired(access: MachineAccess): UnauthenticatedError {
  return access === 'agent'
    ? new UnauthenticatedError('This route is for host agents: a host credential is required', {
        hint: 'Run `slipway agent` on the host; it joins with a join token and then uses its own credential',
      })
    : new UnauthenticatedError('This route needs a valid, unused join token', {
        hint: 'Create one with `slipway agent join-token ENVIRONMENT HOST`; each token works once',
      });
}

/** The password of an HTTP Basic header (how apt's auth.conf sends a credential). */
function basicPassword(authorization: string): string | undefined {
  const basic = /^Basic\s+([A-Za-z0-9+/]+={0,2})$/i.exec(authorization);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : undefined;
}

/**
 * The machine behind a credential with a registered prefix, as a bearer token or as the HTTP Basic
 * password; undefined for anything else.
 */
async function authenticateMachine(
  deps: PipelineDeps,
  authorization: string | undefined,
): Promise<MachinePrincipal | undefined> {
  const credential = authorization
    ? (/^Bearer\s+(\S+)$/i.exec(authorization)?.[1] ?? basicPassword(authorization))
    : undefined;
  if (!credential) return undefined;
  for (const [prefix, authenticator] of MACHINE_AUTHENTICATORS) {
    if (credential.startsWith(prefix))
      return authenticator.authenticate(deps.store.db, credential, deps.clock.now());
  }
  return undefined;
}

/**
 * A host agent on a route that admits agents (`agents: true`): only for the environment of its own
 * host. @throws ForbiddenError for any other scope
 */
function authorizeAgent(machine: MachinePrincipal, scope: Scope): void {
  const own = machine.attributes.environment;
  if (scope.kind === 'environment' && own !== undefined && scope.environment === own) return;
  throw new ForbiddenError(
    `Not allowed: ${machine.name} may read only what belongs to environment:${own ?? '(none)'}, not ${formatScope(scope)}`,
    {
      hint: "A host agent reads its own environment only: promote the version to that environment's channel",
      details: { scope: formatScope(scope) },
    },
  );
}

interface FieldProblem {
  readonly path: string;
  readonly message: string;
}

function problemsOf(part: string, error: z.ZodError): FieldProblem[] {
  return error.issues.map((issue) => ({
    path: [part, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
}

/**
 * Validates body, query and params against the route's schemas, collecting every problem.
 * @throws InvalidInputError listing each field path
 */
export function parseInput(route: AnyRoute, request: FastifyRequest): { body: any; query: any; params: any } {
  const problems: FieldProblem[] = [];
  const parsePart = (part: 'body' | 'query' | 'params', schema: z.ZodType | undefined, value: unknown) => {
    if (!schema) {
      const empty =
        value === undefined ||
        value === null ||
        (typeof value === 'object' && Object.keys(value).length === 0);
      if (!empty) problems.push({ path: part, message: `this route takes no ${part}` });
      return undefined;
    }
    const result = schema.safeParse(value ?? (part === 'body' ? undefined : {}));
    if (result.success) return result.data;
    problems.push(...problemsOf(part, result.error));
    return undefined;
  };
  const params = parsePart('params', route.params, request.params);
  const query = parsePart('query', route.query, request.query);
  // A raw body is the handler's to read (rawBody / bodyStream), not a value to validate here.
  const body = route.rawBody ? undefined : parsePart('body', route.body, request.body);
  if (problems.length > 0) {
    const shown = problems
      .slice(0, 5)
      .map((p) => `${p.path}: ${p.message}`)
      .join('; ');
    throw new InvalidInputError(`Cannot accept the request: ${shown}${problems.length > 5 ? '; …' : ''}`, {
      hint: 'Fix the fields listed in details, then send the request again',
      details: problems,
      retryable: false,
    });
  }
  return { body, query, params };
}

function auditRecord(
  route: AnyRoute,
  request: FastifyRequest,
  principal: Principal | undefined,
  audit: { target?: string; details?: Record<string, unknown>; actor?: string },
  outcome: AuditRecord['outcome'],
): AuditRecord {
  return {
    actor: principal?.username ?? audit.actor ?? 'anonymous',
    actorId: principal?.userId ?? null,
    action: route.audit?.action ?? `${route.method} ${route.path}`,
    target: audit.target ?? null,
    outcome,
    sourceIp: request.ip,
    requestId: String(request.id),
    details: audit.details ?? null,
  };
}

/** The body as received, for routes that declare `rawBody`. */
function rawBodyOf(route: AnyRoute, request: FastifyRequest): { rawBody?: Buffer; bodyStream?: Readable } {
  if (route.rawBody === 'buffer') {
    return { rawBody: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0) };
  }
  if (route.rawBody === 'stream') {
    // A request without a body never reaches the content-type parser; its stream is then empty.
    return { bodyStream: request.body instanceof Readable ? request.body : request.raw };
  }
  return {};
}

/** Builds the Fastify handler that runs a route: authenticate, validate, authorise, handle, audit. */
export function routeHandler(route: AnyRoute, deps: PipelineDeps) {
  const mutating = route.method !== 'GET';
  // Writes are always audited; a read only when its route asks (`auditReads`), refusals included.
  const audited = mutating || route.auditReads === true;
  if (audited && !route.audit) {
    throw new Error(`Route ${route.method} ${route.path} is audited but declares no audit action`);
  }
  const useTransaction = mutating && route.transaction !== false;

  return async function handle(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const audit: { target?: string; details?: Record<string, unknown>; actor?: string } = {};
    let authentication: Authentication | undefined;
    let machine: MachinePrincipal | undefined;
    try {
      machine = await authenticateMachine(deps, request.headers.authorization).catch((error) => {
        if (route.access === 'public') return undefined;
        throw error;
      });
      if (machine) audit.actor = machine.name;
      // A host agent on a route that admits agents: authorised below against the route's scope.
      const agentOnAgentsRoute =
        machine?.kind === 'agent' && typeof route.access === 'object' && route.access.agents === true;
      if (MACHINE_ACCESS.has(route.access)) {
        if (machine?.kind !== route.access) throw machineCredentialRequired(route.access as MachineAccess);
      } else if (agentOnAgentsRoute) {
        // no user behind it: the scope check below is the whole decision
      } else if (machine && route.access !== 'public') {
        throw new UnauthenticatedError('A host credential cannot call this route', {
          hint: 'Host credentials open only the agent routes; people use `slipway login` or an API token',
        });
      } else {
        const credentials = {
          authorization: request.headers.authorization,
          sessionCookie: request.cookies?.[SESSION_COOKIE],
        };
        authentication =
          route.access === 'public'
            ? // A public route needs nobody; a stale cookie or a foreign bearer token (a scrape token) must not block it.
              await authenticateRequest(
                deps.store.db,
                credentials,
                deps.clock.now(),
                deps.credentialCache,
              ).catch(() => undefined)
            : await authenticateRequest(deps.store.db, credentials, deps.clock.now(), deps.credentialCache);
        if (route.access !== 'public' && !authentication?.principal) throw new UnauthenticatedError();
      }
      const principal = authentication?.principal;
      // A cookie rides along on every request a browser makes; a write must prove it came from our console.
      if (mutating && authentication?.session) {
        checkCsrf(authentication.session.csrfToken, request.headers['x-csrf-token'] as string | undefined);
      }
      const input = parseInput(route, request);
      // Named before the policy check, so a refused call's entry says what was attempted.
      if (route.audit?.target) audit.target = route.audit.target(input);
      if (typeof route.access === 'object') {
        const scope =
          typeof route.access.scope === 'function' ? route.access.scope(input) : route.access.scope;
        if (agentOnAgentsRoute) authorizeAgent(machine!, scope);
        else authorize(principal, route.access.role, scope);
      }

      const run = async (db: Store['db']) =>
        route.handler({
          input,
          principal,
          db,
          requestId: String(request.id),
          sourceIp: request.ip,
          audit,
          ...(authentication?.session ? { session: authentication.session } : {}),
          ...(machine ? { machine } : {}),
          authorize: (role: Role, scope: Scope) => authorize(principal, role, scope),
          reply,
          ...rawBodyOf(route, request),
        });

      let result: unknown;
      if (useTransaction && route.audit?.successes === false) {
        result = await inTransaction(deps.store.db, run);
      } else if (useTransaction) {
        result = await inTransaction(deps.store.db, async (trx) => {
          const value = await run(trx);
          await appendAudit(trx, auditRecord(route, request, principal, audit, 'success'), deps.clock.now());
          return value;
        });
      } else {
        result = await run(deps.store.db);
        if (audited && route.audit?.successes !== false)
          await appendAudit(
            deps.store.db,
            auditRecord(route, request, principal, audit, 'success'),
            deps.clock.now(),
          );
      }
      // This replica's own writes must be visible to its next call at once, without waiting for the
      // database's notification to come back round.
      if (mutating) deps.credentialCache?.clear();
      if (route.raw) return reply;
      if (route.response) {
        const checked = route.response.safeParse(result);
        if (!checked.success) {
          request.log.error(
            { issues: checked.error.issues, route: route.path },
            'response does not match its schema',
          );
          throw new SlipwayError(ErrorCode.Internal, 'An internal error occurred', { retryable: false });
        }
        result = checked.data;
      }
      reply.code(route.successStatus ?? (route.method === 'POST' ? 201 : 200));
      return result;
    } catch (error) {
      const failure = fromFastifyError(error);
      if (audited) {
        const outcome =
          failure.code === ErrorCode.Forbidden || failure.code === ErrorCode.Unauthenticated
            ? 'denied'
            : 'failure';
        audit.details = { ...audit.details, error: failure.code };
        await appendAudit(
          deps.store.db,
          auditRecord(route, request, authentication?.principal, audit, outcome),
          deps.clock.now(),
        ).catch((auditError) =>
          request.log.error({ err: auditError }, 'cannot write the audit entry of a failed call'),
        );
      }
      throw failure;
    }
  };
}
