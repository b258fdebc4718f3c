/**
 * The routes host agents call, with their own credentials (never a user's): join with a one-time
 * token, long-poll the host's desired state, report status. The control plane never calls agents.
 */
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { AgentReport } from '../agent/index.ts';
import {
  type AnyRoute,
  type Clock,
  defineRoute,
  type MachinePrincipal,
  UnauthenticatedError,
} from '../core/index.ts';
import type { DatabaseOutputs } from '../providers/index.ts';
import { resolveSecretSet, type SecretVault } from '../secrets/index.ts';
import { type HostDocument, type SecretResolver, serveDocument, vaultSecretNames } from './host-documents.ts';
import { waitForHostChange } from './host-signals.ts';
import { getHost, type HostRow, joinHost, recordReport } from './hosts.ts';
import type { EnvironmentsTables } from './schema.ts';

type Db = Kysely<EnvironmentsTables>;

const ProcessReport = z.object({
  name: z.string(),
  state: z.enum(['starting', 'running', 'backoff', 'stopping', 'stopped', 'failed']),
  pid: z.number().int().nullable(),
  startedAt: z.string().nullable(),
  restarts: z.number().int(),
  lastExit: z
    .object({ code: z.number().int().nullable(), signal: z.string().nullable(), at: z.string() })
    .nullable(),
  backoffMs: z.number(),
  nextStartAt: z.string().nullable(),
  health: z.object({
    status: z.enum(['none', 'unknown', 'healthy', 'unhealthy']),
    checkedAt: z.string().nullable(),
    message: z.string().nullable(),
  }),
  rssBytes: z.number().nullable(),
  message: z.string().nullable(),
});

/** What an agent may report (see src/agent/report.ts). */
export const AgentReportBody = z.object({
  schemaVersion: z.literal(1),
  agent: z.object({
    version: z.string().max(100),
    instance: z.string().max(100),
    startedAt: z.string(),
    pid: z.number().int(),
    rssBytes: z.number(),
  }),
  at: z.string(),
  appliedRevision: z.number().int().nullable(),
  error: z.string().max(4000).nullable(),
  release: z.object({
    state: z.enum(['none', 'installing', 'removing', 'installed', 'failed']),
    // Optional: agents older than the APT installer report state, version and message only.
    id: z.string().max(200).nullable().optional(),
    version: z.string().nullable(),
    message: z.string().max(4000).nullable(),
    phase: z.string().max(40).nullable().optional(),
    log: z.string().max(16_384).optional(),
    startedAt: z.string().nullable().optional(),
    finishedAt: z.string().nullable().optional(),
    installed: z
      .object({
        id: z.string().max(200),
        version: z.string().max(200),
        package: z.string().max(200),
        packageVersion: z.string().max(200),
      })
      .nullable()
      .optional(),
  }),
  processes: z.array(ProcessReport).max(200),
  tasks: z
    .array(
      z.object({
        id: z.string(),
        name: z.string(),
        state: z.enum(['running', 'succeeded', 'failed']),
        exitCode: z.number().int().nullable(),
        startedAt: z.string(),
        finishedAt: z.string().nullable(),
        output: z.string().max(16_384),
      }),
    )
    .max(50),
  metrics: z.object({
    cpuPercent: z.number().nullable(),
    loadAverage: z.array(z.number()),
    memory: z.object({ totalBytes: z.number(), availableBytes: z.number(), usedPercent: z.number() }),
    uptimeSeconds: z.number(),
  }),
});

/** What resolving a served document's secrets needs. */
interface ResolveContext {
  readonly vault: SecretVault | undefined;
  readonly machine: MachinePrincipal;
  readonly requestId: string;
}

/**
 * The values of the vault secrets a document names, from its release's pinned secret set of the
 * host's own environment (never another's), decrypted for this host (audited, actor = the host).
 * Undefined when it names none, has no pinned set, or there is no vault: those stay unresolved.
 * @throws SecretStoreSealedError (503) while the store is sealed: the agent keeps its last state and asks again
 */
async function vaultValues(
  db: Db,
  document: HostDocument,
  context: ResolveContext,
): Promise<Readonly<Record<string, string>> | undefined> {
  const pinned = document.release?.secrets;
  if (!context.vault || !pinned || vaultSecretNames(document).length === 0) return undefined;
  const resolved = await resolveSecretSet(db, {
    vault: context.vault,
    environment: document.environment,
    setVersion: pinned.version,
    actor: context.machine.name,
    purpose: `release:${document.release!.id} on ${context.machine.name}`,
    requestId: context.requestId,
  });
  return resolved.values;
}

async function secretResolver(
  db: Db,
  document: HostDocument,
  context: ResolveContext,
): Promise<SecretResolver> {
  const environment = document.environment;
  const vault = await vaultValues(db, document, context);
  const row = await db
    .selectFrom('environment_resources')
    .select(['outputs', 'sensitive'])
    .where('environment', '=', environment)
    .where('kind', '=', 'database')
    .executeTakeFirst();
  const outputs = row?.outputs as DatabaseOutputs['outputs'] | undefined;
  const sensitive = row?.sensitive as DatabaseOutputs['sensitive'] | undefined;
  return (source) => {
    if (source.kind === 'database-password') return sensitive?.passwords[source.role];
    if (source.kind === 'database-url') {
      const password = sensitive?.passwords[source.role];
      if (!password || !outputs) return undefined;
      return `postgres://${encodeURIComponent(source.role)}:${encodeURIComponent(password)}@${outputs.host}:${outputs.port}/${encodeURIComponent(source.database)}`;
    }
    if (source.kind === 'vault')
      return vault && Object.hasOwn(vault, source.name) ? vault[source.name] : undefined;
    return undefined;
  };
}

async function hostOf(db: Db, id: string): Promise<HostRow> {
  const host = await getHost(db, id);
  if (!host)
    throw new UnauthenticatedError('The host no longer exists', {
      hint: 'The environment was changed or destroyed',
    });
  return host;
}

/** The agent routes; `secretVault` resolves vault secrets when a document is served. */
export function agentRoutes(options: {
  clock: Clock;
  secretVault?: SecretVault;
  /** Aborted when the server shuts down: long polls answer at once instead of holding it up. */
  shutdown?: AbortSignal;
}): AnyRoute[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/api/agent/join',
      summary: 'Exchange a one-time join token for the host credential',
      tags: ['agents'],
      access: 'agent-join',
      body: z.object({ agentVersion: z.string().max(100), instance: z.string().max(100) }),
      response: z.object({
        hostId: z.string(),
        environment: z.string(),
        host: z.string(),
        credential: z.string(),
      }),
      audit: { action: 'agents.join' },
      handler: async ({ db, machine, audit }) => {
        const { host, credential } = await joinHost(
          db as Db,
          machine!.id,
          machine!.credentialId,
          options.clock.now(),
        );
        audit.target = `host:${host.environment}/${host.name}`;
        return { hostId: host.id, environment: host.environment, host: host.name, credential };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/agent/desired-state',
      summary: "Long-poll the host's desired state (answers at once when it is newer than `after`)",
      tags: ['agents'],
      access: 'agent',
      query: z.object({
        after: z.coerce.number().int().min(-1).default(-1),
        waitMs: z.coerce.number().int().min(0).max(25_000).default(20_000),
      }),
      response: z.object({ revision: z.number(), document: z.unknown().nullable() }),
      handler: async ({ db, machine, input, reply, requestId }) => {
        const deadline = Date.now() + input.query.waitMs;
        const closed = new AbortController();
        reply.raw.once('close', () => closed.abort());
        // The caller going away, or this server shutting down (the agent polls again elsewhere).
        const done = options.shutdown ? AbortSignal.any([closed.signal, options.shutdown]) : closed.signal;
        let host = await hostOf(db as Db, machine!.id);
        while (host.revision <= input.query.after && Date.now() < deadline && !done.aborted) {
          // Woken by a change on this replica; the database is checked every second for other replicas.
          await waitForHostChange(host.id, Math.min(1000, Math.max(0, deadline - Date.now())), done);
          host = await hostOf(db as Db, machine!.id);
        }
        if (host.revision <= input.query.after) return { revision: host.revision, document: null };
        const document = host.document as HostDocument;
        // The host's own environment, whatever the document says: a host never reads another's secrets.
        const resolve = await secretResolver(
          db as Db,
          { ...document, environment: host.environment },
          { vault: options.secretVault, machine: machine!, requestId },
        );
        return { revision: host.revision, document: serveDocument(document, host.revision, resolve) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/agent/status',
      summary: 'Report what the host runs: processes, health, tasks, metrics',
      tags: ['agents'],
      access: 'agent',
      body: AgentReportBody,
      response: z.object({ revision: z.number() }),
      // Every agent reports every few seconds: only refused and failed reports go to the audit log.
      audit: { action: 'agents.report', successes: false },
      transaction: false,
      handler: async ({ db, machine, input, audit }) => {
        const host = await hostOf(db as Db, machine!.id);
        audit.target = `host:${host.environment}/${host.name}`;
        await recordReport(db as Db, host, input.body as AgentReport, options.clock.now());
        return { revision: host.revision };
      },
    }),
  ];
}
