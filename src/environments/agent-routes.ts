/**
 * The routes host agents call, with their own credentials (never a user's): join with a one-time
 * token, long-poll the host's desired state, report status. The control plane never calls agents.
 */
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { AgentReport } from '../agent/index.ts';
import { type AnyRoute, type Clock, defineRoute, UnauthenticatedError } from '../core/index.ts';
import type { DatabaseOutputs } from '../providers/index.ts';
import { type HostDocument, type SecretResolver, serveDocument } from './host-documents.ts';
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
    state: z.enum(['none', 'installing', 'installed', 'failed']),
    version: z.string().nullable(),
    message: z.string().max(4000).nullable(),
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

async function secretResolver(db: Db, environment: string): Promise<SecretResolver> {
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
    return undefined; // the vault (Secrets module) resolves these once it is installed
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

/** The agent routes. */
export function agentRoutes(options: { clock: Clock }): AnyRoute[] {
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
      handler: async ({ db, machine, input, reply }) => {
        const deadline = Date.now() + input.query.waitMs;
        const closed = new AbortController();
        reply.raw.once('close', () => closed.abort());
        let host = await hostOf(db as Db, machine!.id);
        while (host.revision <= input.query.after && Date.now() < deadline && !closed.signal.aborted) {
          // Woken by a change on this replica; the database is checked every second for other replicas.
          await waitForHostChange(host.id, Math.min(1000, Math.max(0, deadline - Date.now())), closed.signal);
          host = await hostOf(db as Db, machine!.id);
        }
        if (host.revision <= input.query.after) return { revision: host.revision, document: null };
        const resolve = await secretResolver(db as Db, host.environment);
        return {
          revision: host.revision,
          document: serveDocument(host.document as HostDocument, host.revision, resolve),
        };
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
