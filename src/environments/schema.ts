/** The environments module's tables (Kysely) and what its API answers (zod). */
import type { Generated } from 'kysely';
import { z } from 'zod';

/** Tables owned by the environments module. */
export interface EnvironmentsTables {
  environments: {
    name: string;
    provider: string;
    status: string;
    model: unknown | null;
    model_hash: string | null;
    file: string | null;
    applied_commit: string | null;
    applied_at: Date | null;
    created_at: Generated<Date>;
    updated_at: Generated<Date>;
  };
  environment_plans: {
    id: string;
    environment: string;
    created_at: Generated<Date>;
    created_by: string;
    trigger: string;
    kind: string;
    commit: string | null;
    source: string | null;
    file: string | null;
    model: unknown | null;
    model_hash: string | null;
    changes: unknown;
    summary: unknown;
    problems: unknown;
    error: string | null;
    status: string;
    decided_by: string | null;
    decided_at: Date | null;
  };
  environment_applies: {
    id: string;
    environment: string;
    plan_id: string;
    requested_by: string;
    requested_at: Generated<Date>;
    started_at: Date | null;
    finished_at: Date | null;
    status: string;
    commit: string | null;
    steps: unknown;
    error: string | null;
    attempts: Generated<number>;
  };
  environment_resources: {
    environment: string;
    resource: string;
    kind: string;
    spec: unknown;
    spec_hash: string;
    status: string;
    outputs: unknown;
    sensitive: unknown;
    observed: unknown | null;
    observed_at: Date | null;
    updated_at: Generated<Date>;
  };
  environment_hosts: {
    id: string;
    environment: string;
    name: string;
    /** The definition's slot the host fills ("web-1"); null while a rollout has not adopted it. */
    slot: string | null;
    services: string[];
    created_at: Generated<Date>;
    join_token_id: string | null;
    join_token_hash: Buffer | null;
    join_token_expires_at: Date | null;
    joined_at: Date | null;
    credential_id: string | null;
    credential_hash: Buffer | null;
    credential_revoked_at: Date | null;
    document: unknown;
    revision: Generated<number>;
    document_updated_at: Generated<Date>;
    report: unknown | null;
    reported_at: Date | null;
    agent_instance: string | null;
    applied_revision: number | null;
    events: unknown;
  };
  environment_source: {
    id: number;
    url: string;
    branch: string;
    poll_interval_ms: number;
    last_commit: string | null;
    last_checked_at: Date | null;
    last_error: unknown | null;
    updated_by: string;
    updated_at: Generated<Date>;
  };
}

/** What a plan would do to one resource. */
export const ResourceChange = z.object({
  action: z.enum(['create', 'update', 'delete']),
  resource: z.string(),
  kind: z.string(),
  /** One line for people: "PostgreSQL 15: databases app; roles app". */
  description: z.string(),
  /** Field by field, for updates. */
  fields: z.array(z.object({ path: z.string(), before: z.unknown(), after: z.unknown() })),
});
export type ResourceChange = z.infer<typeof ResourceChange>;

export const PlanSummary = z.object({ create: z.number(), update: z.number(), delete: z.number() });
export type PlanSummary = z.infer<typeof PlanSummary>;

/** A plan: what applying a definition (or destroying) would change. */
export const Plan = z.object({
  id: z.string(),
  environment: z.string(),
  kind: z.enum(['apply', 'destroy']),
  trigger: z.string(),
  status: z.string(),
  createdAt: z.string(),
  createdBy: z.string(),
  commit: z.string().nullable(),
  source: z.string().nullable(),
  file: z.string().nullable(),
  summary: PlanSummary,
  changes: z.array(ResourceChange),
  /** Why the definitions could not be planned (file, property path, value, fix). */
  problems: z.array(
    z.object({
      file: z.string(),
      path: z.string(),
      value: z.unknown().optional(),
      message: z.string(),
      fix: z.string(),
    }),
  ),
  /** Why the plan could not be made, when it is not a definition problem. */
  error: z.string().nullable(),
  decidedBy: z.string().nullable(),
  decidedAt: z.string().nullable(),
});
export type Plan = z.infer<typeof Plan>;

/** One step of an apply. */
export const ApplyStep = z.object({
  at: z.string(),
  resource: z.string(),
  action: z.string(),
  status: z.enum(['running', 'done', 'failed']),
  message: z.string(),
});
export type ApplyStep = z.infer<typeof ApplyStep>;

/** An apply: the run that brings an environment to a plan's definition. */
export const Apply = z.object({
  id: z.string(),
  environment: z.string(),
  planId: z.string(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed']),
  requestedBy: z.string(),
  requestedAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  commit: z.string().nullable(),
  steps: z.array(ApplyStep),
  error: z.string().nullable(),
  attempts: z.number(),
});
export type Apply = z.infer<typeof Apply>;

/** The tracked infrastructure repository. */
export const Source = z.object({
  url: z.string(),
  branch: z.string(),
  pollIntervalMs: z.number(),
  lastCommit: z.string().nullable(),
  lastCheckedAt: z.string().nullable(),
  lastError: z
    .object({
      message: z.string(),
      problems: z.array(z.unknown()).optional(),
      commit: z.string().nullable().optional(),
    })
    .nullable(),
  updatedBy: z.string(),
  updatedAt: z.string(),
});
export type Source = z.infer<typeof Source>;

const ProcessView = z.object({
  name: z.string(),
  state: z.string(),
  pid: z.number().nullable(),
  hostPid: z.number().nullable(),
  restarts: z.number(),
  backoffMs: z.number(),
  nextStartAt: z.string().nullable(),
  lastExit: z
    .object({ code: z.number().nullable(), signal: z.string().nullable(), at: z.string() })
    .nullable(),
  health: z.object({ status: z.string(), checkedAt: z.string().nullable(), message: z.string().nullable() }),
  rssBytes: z.number().nullable(),
  message: z.string().nullable(),
});

/** The release of a host as `env show` presents it: the desired one, and where the agent is with it. */
const HostReleaseView = z.object({
  /** The release the host's document names; null for none. */
  desired: z.object({ id: z.string(), version: z.string(), package: z.string() }).nullable(),
  /** The agent's state for the release it works on: none, installing, removing, installed, failed. */
  state: z.string(),
  /** The release the agent works on (the desired one once it has picked it up). */
  id: z.string().nullable(),
  version: z.string().nullable(),
  /** Why it failed (a maintainer script's own message included). */
  message: z.string().nullable(),
  phase: z.string().nullable(),
  /** The last lines of the install's output, secret values removed. */
  log: z.string(),
  /** What the host has installed now (after a failure: the previous release it went back to). */
  installed: z
    .object({ id: z.string(), version: z.string(), package: z.string(), packageVersion: z.string() })
    .nullable(),
  finishedAt: z.string().nullable(),
});

/** One host as `env show` presents it. */
export const HostView = z.object({
  id: z.string(),
  name: z.string(),
  services: z.array(z.string()),
  status: z.enum(['healthy', 'unhealthy', 'pending']),
  problems: z.array(z.string()),
  isolated: z.boolean().nullable(),
  agent: z.object({
    connected: z.boolean(),
    running: z.boolean().nullable(),
    pid: z.number().nullable(),
    version: z.string().nullable(),
    instance: z.string().nullable(),
    lastReportAt: z.string().nullable(),
    joinedAt: z.string().nullable(),
    rssBytes: z.number().nullable(),
  }),
  revision: z.object({ desired: z.number(), applied: z.number().nullable() }),
  processes: z.array(ProcessView),
  /** Null while the host has no release and its agent reports none. */
  release: HostReleaseView.nullable(),
  metrics: z.unknown().nullable(),
  events: z.array(z.object({ at: z.string(), kind: z.string(), message: z.string() })),
});
export type HostView = z.infer<typeof HostView>;

/** One environment as `env show` presents it. */
export const EnvironmentView = z.object({
  name: z.string(),
  status: z.enum(['healthy', 'unhealthy', 'applying', 'not-applied', 'failed', 'destroyed']),
  problems: z.array(z.string()),
  provider: z.object({ kind: z.string(), vendor: z.string() }).nullable(),
  file: z.string().nullable(),
  appliedCommit: z.string().nullable(),
  appliedAt: z.string().nullable(),
  isolation: z.object({ isolated: z.boolean(), description: z.string() }).nullable(),
  hosts: z.array(HostView),
  loadBalancer: z
    .object({
      name: z.string(),
      service: z.string(),
      status: z.enum(['healthy', 'unhealthy', 'pending']),
      running: z.boolean().nullable(),
      endpoints: z.array(z.object({ port: z.number(), url: z.string() })),
      servers: z.array(z.object({ name: z.string(), status: z.string(), weight: z.number() })),
    })
    .nullable(),
  database: z
    .object({
      name: z.string(),
      status: z.enum(['healthy', 'unhealthy', 'pending']),
      running: z.boolean().nullable(),
      version: z.number(),
      host: z.string().nullable(),
      port: z.number().nullable(),
      databases: z.array(z.string()),
      roles: z.array(z.string()),
    })
    .nullable(),
  lastPlan: Plan.nullable(),
  waitingPlan: Plan.nullable(),
  lastApply: Apply.nullable(),
  canApply: z.boolean(),
});
export type EnvironmentView = z.infer<typeof EnvironmentView>;

/** One line of `env list`. */
export const EnvironmentSummary = z.object({
  name: z.string(),
  status: z.string(),
  provider: z.string().nullable(),
  hosts: z.number(),
  healthyHosts: z.number(),
  appliedCommit: z.string().nullable(),
  appliedAt: z.string().nullable(),
  waitingPlan: z.string().nullable(),
});
export type EnvironmentSummary = z.infer<typeof EnvironmentSummary>;
