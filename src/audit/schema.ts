import { z } from 'zod';

/** How an audited call ended. */
export const AuditOutcome = { Success: 'success', Failure: 'failure', Denied: 'denied' } as const;
export type AuditOutcome = (typeof AuditOutcome)[keyof typeof AuditOutcome];

/** What a caller records; the log adds id, time and hashes. */
export interface AuditRecord {
  /** Username, "anonymous", or a system actor such as "system:bootstrap". */
  readonly actor: string;
  readonly actorId?: string | null;
  /** A dotted verb: "users.create". */
  readonly action: string;
  /** What was acted on: "user:alice". */
  readonly target?: string | null;
  readonly outcome: AuditOutcome;
  readonly sourceIp?: string | null;
  readonly requestId?: string | null;
  /** Safe, JSON-serialisable facts; never secrets. */
  readonly details?: Record<string, unknown> | null;
}

export const AuditEntry = z.object({
  id: z.number().int(),
  at: z.string(),
  actor: z.string(),
  actorId: z.string().nullable(),
  action: z.string(),
  target: z.string().nullable(),
  outcome: z.enum(['success', 'failure', 'denied']),
  sourceIp: z.string().nullable(),
  requestId: z.string().nullable(),
  details: z.record(z.string(), z.unknown()).nullable(),
  prevHash: z.string(),
  hash: z.string(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditVerification = z.object({
  ok: z.boolean(),
  checked: z.number().int(),
  headId: z.number().int(),
  problem: z
    .object({
      entryId: z.number().int(),
      kind: z.enum(['edited', 'deleted', 'reordered', 'truncated']),
      message: z.string(),
    })
    .optional(),
});
export type AuditVerification = z.infer<typeof AuditVerification>;

/** Tables owned by the audit module. */
export interface AuditTables {
  audit_log: {
    id: number;
    at: Date;
    actor: string;
    actor_id: string | null;
    action: string;
    target: string | null;
    outcome: string;
    source_ip: string | null;
    request_id: string | null;
    details: Record<string, unknown> | null;
    prev_hash: string;
    hash: string;
  };
  audit_head: { id: number; last_id: number; last_hash: string };
}
