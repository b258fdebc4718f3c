/** @module The audit log: append-only, hash-chained, written in the same transaction as each change. */

export {
  type AuditFilter,
  appendAudit,
  canonicalJson,
  hashEntry,
  listAudit,
  verifyAudit,
} from './audit-log.ts';
export { auditMigrations, GENESIS_HASH } from './migrations.ts';
export { auditRoutes } from './routes.ts';
export { AuditEntry, AuditOutcome, type AuditRecord, type AuditTables, AuditVerification } from './schema.ts';
