import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { GENESIS_HASH } from './migrations.ts';
import type { AuditEntry, AuditRecord, AuditTables, AuditVerification } from './schema.ts';

type Db = Kysely<AuditTables>;

/** JSON with object keys sorted at every level, so equal values always hash the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The hash of an entry: SHA-256 over the previous hash and the entry's canonical fields. */
export function hashEntry(prevHash: string, entry: Omit<AuditEntry, 'hash' | 'prevHash'>): string {
  const body = canonicalJson({
    id: entry.id,
    at: entry.at,
    actor: entry.actor,
    actorId: entry.actorId,
    action: entry.action,
    target: entry.target,
    outcome: entry.outcome,
    sourceIp: entry.sourceIp,
    requestId: entry.requestId,
    details: entry.details,
  });
  return createHash('sha256').update(`${prevHash}\n${body}`).digest('hex');
}

function toEntry(row: AuditTables['audit_log']): AuditEntry {
  return {
    id: Number(row.id),
    at: row.at.toISOString(),
    actor: row.actor,
    actorId: row.actor_id,
    action: row.action,
    target: row.target,
    outcome: row.outcome as AuditEntry['outcome'],
    sourceIp: row.source_ip,
    requestId: row.request_id,
    details: row.details,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/**
 * Appends an entry to the chain. Call it inside the transaction that makes the change it records,
 * so both commit or neither does; outside a transaction it opens its own. Concurrent writers queue
 * on the head row, which keeps the chain linear.
 */
export async function appendAudit(db: Db, record: AuditRecord, now: Date = new Date()): Promise<AuditEntry> {
  if (!db.isTransaction) return db.transaction().execute((trx) => appendAudit(trx, record, now));
  const head = await db
    .selectFrom('audit_head')
    .select(['last_id', 'last_hash'])
    .where('id', '=', 1)
    .forUpdate()
    .executeTakeFirstOrThrow();
  // Details go through a JSON round trip so the hash covers exactly what jsonb will give back.
  const details = record.details
    ? (JSON.parse(JSON.stringify(record.details)) as Record<string, unknown>)
    : null;
  const fields: Omit<AuditEntry, 'hash' | 'prevHash'> = {
    id: Number(head.last_id) + 1,
    at: new Date(Math.floor(now.getTime())).toISOString(),
    actor: record.actor,
    actorId: record.actorId ?? null,
    action: record.action,
    target: record.target ?? null,
    outcome: record.outcome,
    sourceIp: record.sourceIp ?? null,
    requestId: record.requestId ?? null,
    details,
  };
  const hash = hashEntry(head.last_hash, fields);
  await db
    .insertInto('audit_log')
    .values({
      id: fields.id,
      at: new Date(fields.at),
      actor: fields.actor,
      actor_id: fields.actorId,
      action: fields.action,
      target: fields.target,
      outcome: fields.outcome,
      source_ip: fields.sourceIp,
      request_id: fields.requestId,
      details: details === null ? null : (JSON.stringify(details) as any),
      prev_hash: head.last_hash,
      hash,
    })
    .execute();
  await db
    .updateTable('audit_head')
    .set({ last_id: fields.id, last_hash: hash })
    .where('id', '=', 1)
    .execute();
  return { ...fields, prevHash: head.last_hash, hash };
}

/** Filters for listing the audit log. */
export interface AuditFilter {
  readonly actor?: string;
  /** An exact action ("users.create") or a prefix ending in "." ("users."). */
  readonly action?: string;
  readonly target?: string;
  readonly outcome?: AuditEntry['outcome'];
  readonly since?: Date;
  /** Entries with an id below this one (for paging backwards). */
  readonly beforeId?: number;
  /** @default 100 */
  readonly limit?: number;
}

/** Lists entries, newest first. */
export async function listAudit(db: Db, filter: AuditFilter = {}): Promise<AuditEntry[]> {
  let query = db.selectFrom('audit_log').selectAll();
  if (filter.actor) query = query.where('actor', '=', filter.actor);
  if (filter.action) {
    query = filter.action.endsWith('.')
      ? query.where('action', 'like', `${filter.action.replace(/[\\%_]/g, '\\$&')}%`)
      : query.where('action', '=', filter.action);
  }
  if (filter.target) query = query.where('target', '=', filter.target);
  if (filter.outcome) query = query.where('outcome', '=', filter.outcome);
  if (filter.since) query = query.where('at', '>=', filter.since);
  if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
  const rows = await query
    .orderBy('id', 'desc')
    .limit(filter.limit ?? 100)
    .execute();
  return rows.map(toEntry);
}

const VERIFY_BATCH = 2000;

/**
 * Walks the whole chain in order and reports the first entry that was edited, deleted or
 * reordered, or that entries after the last one were deleted.
 */
export async function verifyAudit(db: Db): Promise<AuditVerification> {
  const head = await db
    .selectFrom('audit_head')
    .select(['last_id', 'last_hash'])
    .where('id', '=', 1)
    .executeTakeFirstOrThrow();
  let expectedId = 1;
  let prevHash = GENESIS_HASH;
  let checked = 0;
  const fail = (
    entryId: number,
    kind: NonNullable<AuditVerification['problem']>['kind'],
    message: string,
  ) => ({
    ok: false,
    checked,
    headId: Number(head.last_id),
    problem: { entryId, kind, message },
  });
  while (true) {
    const rows = await db
      .selectFrom('audit_log')
      .selectAll()
      .where('id', '>=', expectedId)
      .orderBy('id')
      .limit(VERIFY_BATCH)
      .execute();
    for (const row of rows) {
      const entry = toEntry(row);
      if (entry.id !== expectedId) {
        return fail(expectedId, 'deleted', `Audit entry ${expectedId} is missing: it was deleted`);
      }
      if (entry.prevHash !== prevHash) {
        const moved = await db
          .selectFrom('audit_log')
          .select('id')
          .where('hash', '=', entry.prevHash)
          .executeTakeFirst();
        if (moved && Number(moved.id) !== expectedId - 1) {
          return fail(
            entry.id,
            'reordered',
            `Audit entry ${entry.id} is out of order: it follows entry ${moved.id}`,
          );
        }
        return fail(
          expectedId - 1,
          'edited',
          `Audit entry ${expectedId - 1} was edited: its hash no longer matches the one entry ${entry.id} recorded`,
        );
      }
      const { hash, prevHash: _prev, ...fields } = entry;
      if (hashEntry(entry.prevHash, fields) !== hash) {
        return fail(
          entry.id,
          'edited',
          `Audit entry ${entry.id} was edited: its contents no longer match its hash`,
        );
      }
      prevHash = hash;
      expectedId += 1;
      checked += 1;
    }
    if (rows.length < VERIFY_BATCH) break;
  }
  const lastId = expectedId - 1;
  if (lastId < Number(head.last_id)) {
    return fail(
      lastId + 1,
      'truncated',
      `Audit entries ${lastId + 1} to ${head.last_id} are missing: they were deleted`,
    );
  }
  if (lastId > Number(head.last_id) || prevHash !== head.last_hash) {
    return fail(lastId, 'edited', `Audit entry ${lastId} does not match the recorded head of the chain`);
  }
  return { ok: true, checked, headId: Number(head.last_id) };
}
