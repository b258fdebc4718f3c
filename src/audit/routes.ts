import { z } from 'zod';
import { type AnyRoute, defineRoute, PLATFORM } from '../core/index.ts';
import { listAudit, verifyAudit } from './audit-log.ts';
import { AuditEntry, AuditVerification } from './schema.ts';

/** The audit module's HTTP routes; reading the log is for platform administrators. */
export function auditRoutes(): AnyRoute[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/api/audit',
      summary: 'List audit entries, newest first',
      tags: ['audit'],
      access: { role: 'admin', scope: PLATFORM },
      query: z.strictObject({
        actor: z.string().max(200).optional(),
        action: z.string().max(200).optional(),
        target: z.string().max(500).optional(),
        outcome: z.enum(['success', 'failure', 'denied']).optional(),
        since: z.iso.datetime({ offset: true }).optional(),
        beforeId: z.coerce.number().int().positive().optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
      }),
      response: z.array(AuditEntry),
      async handler(context) {
        const { since, ...filter } = context.input.query;
        return listAudit(context.db, { ...filter, ...(since ? { since: new Date(since) } : {}) });
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/audit/verify',
      summary: 'Walk the hash chain and report the first entry that was edited, deleted or reordered',
      tags: ['audit'],
      access: { role: 'admin', scope: PLATFORM },
      response: AuditVerification,
      async handler(context) {
        return verifyAudit(context.db);
      },
    }),
  ];
}
