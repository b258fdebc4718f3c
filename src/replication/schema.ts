import type { Generated } from 'kysely';
import { z } from 'zod';

/** A link's name: it becomes part of schema and trigger names on both databases. */
export const LinkName = z
  .string()
  .min(2, 'use at least 2 characters')
  .max(40, 'use at most 40 characters')
  .regex(/^[a-z][a-z0-9-]*$/, 'use lowercase letters, digits and "-", starting with a letter');

/** A PostgreSQL connection string (a secret: never echoed back, logged or audited). */
export const ConnectionString = z
  .string()
  .max(4096, 'use at most 4096 characters')
  .regex(/^postgres(ql)?:\/\/\S+$/, 'use a postgres:// or postgresql:// connection string');

/** A table as SCHEMA.TABLE (or TABLE, meaning the public schema). */
export const TableName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\s.]+(\.[^\s.]+)?$/, 'use SCHEMA.TABLE or TABLE');

/** Who runs the applier: the control plane (embedded), or `slipway replication apply` elsewhere. */
export const ApplierMode = z.enum(['embedded', 'external']);
export type ApplierMode = z.infer<typeof ApplierMode>;

export const CreateLinkBody = z
  .strictObject({
    name: LinkName,
    source: ConnectionString,
    target: ConnectionString,
    tables: z.array(TableName).min(1).max(1000).optional(),
    schema: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[^\s.]+$/, 'use a schema name')
      .optional(),
    applier: ApplierMode.default('embedded'),
    lagAlertSeconds: z.number().int().min(1).max(86_400).default(60),
  })
  .refine((b) => (b.tables === undefined) !== (b.schema === undefined), {
    message: 'give either tables or schema',
    path: ['tables'],
  });
export type CreateLinkBody = z.infer<typeof CreateLinkBody>;

export const LinkParams = z.strictObject({ name: LinkName });

export const ResyncBody = z.strictObject({ table: TableName });
export const DdlBody = z.strictObject({
  script: z.string().min(1, 'give the SQL of the schema change').max(1_000_000),
  targetOnly: z.boolean().default(false),
});
export const VerifyBody = z
  .strictObject({ chunkRows: z.number().int().min(10).max(1_000_000).optional() })
  .optional();
export const DropQuery = z.strictObject({
  force: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
});

export const TableStatus = z.object({
  table: z.string(),
  state: z.enum(['copying', 'replicating', 'resync']),
  rowsApplied: z.number(),
  rowsCopied: z.number().nullable(),
  copiedAt: z.string().nullable(),
  changedAt: z.string().nullable(),
  progress: z.object({ rowsDone: z.number(), rowsTotal: z.number().nullable() }).nullable(),
});

export const LinkHealth = z.enum([
  'replicating',
  'copying',
  'lagging',
  'stopped',
  'error',
  'promoted',
  'unknown',
]);
export type LinkHealth = z.infer<typeof LinkHealth>;

/** The live part of a link's status, read from its databases. */
export const LiveStatus = z.object({
  desired: z.enum(['running', 'stopped', 'promoted']),
  stoppedReason: z.string().nullable(),
  position: z.string(),
  lagSeconds: z.number(),
  pendingChanges: z.number(),
  syncedAt: z.string().nullable(),
  appliedAt: z.string().nullable(),
  batches: z.number(),
  rowsApplied: z.number(),
  rowsPerSecond: z.number(),
  lastError: z.string().nullable(),
  lastErrorAt: z.string().nullable(),
  applier: z.string().nullable(),
  heartbeatAt: z.string().nullable(),
  applierRunning: z.boolean(),
  promotedAt: z.string().nullable(),
  tables: z.array(TableStatus),
});
export type LiveStatus = z.infer<typeof LiveStatus>;

export const LinkSummary = z.object({
  name: z.string(),
  state: z.enum(['running', 'stopped', 'promoted']),
  health: LinkHealth,
  applier: ApplierMode,
  tables: z.array(z.string()),
  lagAlertSeconds: z.number(),
  alertSince: z.string().nullable(),
  direction: z.number(),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
  promotedAt: z.string().nullable(),
  /** Null when the databases could not be read; `statusError` says why. */
  status: LiveStatus.nullable(),
  statusError: z.string().nullable(),
});
export type LinkSummary = z.infer<typeof LinkSummary>;

export const LinkEvent = z.object({
  id: z.number(),
  at: z.string(),
  kind: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).nullable(),
});
export type LinkEvent = z.infer<typeof LinkEvent>;

export const LinkDetail = LinkSummary.extend({ events: z.array(LinkEvent) });
export type LinkDetail = z.infer<typeof LinkDetail>;

export const TableComparison = z.object({
  table: z.string(),
  sourceRows: z.number(),
  targetRows: z.number(),
  chunks: z.number(),
  identical: z.boolean(),
  firstDifference: z
    .object({ fromKey: z.string(), toKey: z.string(), sourceRows: z.number(), targetRows: z.number() })
    .optional(),
});

export const VerifyResult = z.object({
  identical: z.boolean(),
  checkedAt: z.string(),
  position: z.string().nullable(),
  pendingChanges: z.number(),
  tables: z.array(TableComparison),
  skipped: z.array(z.string()),
});
export type VerifyResult = z.infer<typeof VerifyResult>;

export const PromoteResult = z.object({
  name: z.string(),
  promotedAt: z.string(),
  finalBatch: z.boolean(),
  sequences: z.number(),
});

export const DdlResult = z.object({ name: z.string(), tablesRecopied: z.array(z.string()) });

/** Tables owned by the replication module. */
export interface ReplicationTables {
  replication_links: {
    id: string;
    name: string;
    source_dsn: string;
    target_dsn: string;
    selection: unknown;
    tables: unknown;
    applier: Generated<ApplierMode>;
    lag_alert_seconds: Generated<number>;
    state: Generated<'running' | 'stopped' | 'promoted'>;
    direction: Generated<number>;
    alert_since: Date | null;
    created_at: Generated<Date>;
    created_by: string | null;
    updated_at: Generated<Date>;
    promoted_at: Date | null;
  };
  replication_events: {
    id: Generated<number>;
    link_id: string;
    at: Generated<Date>;
    kind: string;
    message: string;
    details: unknown;
  };
}
