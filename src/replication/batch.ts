/**
 * One batch: every source transaction that committed between the applied position and a new
 * snapshot, applied on the target in one transaction that also stores the new position.
 *
 * Commit order without a commit hook: the source is read in a REPEATABLE READ transaction whose
 * snapshot S is the new position. The batch holds exactly the transactions visible in S and not in the
 * previous position P (log rows with txid ≥ P.xmax or txid ∈ P.xip). For each changed key the applier
 * copies the row as it is in S (or learns that S has no such row), so the target moves from the
 * source's state at P to its state at S in one step: a state the source really had, with every source
 * transaction either wholly applied or not at all, and batches following each other in commit order.
 * Applying is set-based (COPY into a temporary table, then one DELETE and one INSERT … ON CONFLICT per
 * table) and idempotent, so a batch redone after a crash gives the same result.
 */
import type pg from 'pg';
import { logTable } from './capture.ts';
import {
  catalogJsonSql,
  catalogRowToTable,
  copiedColumns,
  describeShapeChange,
  foreignKeys,
  parentsFirst,
  type SequenceInfo,
  sequenceStateSql,
  shapeOf,
  type TableInfo,
  type TableShape,
  tableName,
  tablesByName,
} from './catalog.ts';
import { pipeCopy } from './internal/copy-stream.ts';
import {
  formatSnapshot,
  isVisibleIn,
  notVisibleFilter,
  parseSnapshot,
  type Snapshot,
} from './internal/snapshot.ts';
import { columnList, ident, keyJoin, linkSchema, literal, qualified } from './internal/sql.ts';
import type { TableState } from './replica.ts';

/** A replicated table as the applier holds it. */
export interface ApplyTable {
  readonly id: number;
  readonly oid: number;
  /** The table as the source's catalog describes it now. */
  info: TableInfo;
  /** The columns the source's log records the key in (k1, k2, … stand for these). */
  logKey: readonly string[];
  state: TableState;
  /** The table's own position (after a copy) until a batch brings it to the link's. */
  position?: Snapshot | undefined;
  /** The shape both sides last agreed on. */
  shape: TableShape;
}

/** The applier's state that batches read and update. */
export interface BatchContext {
  readonly link: string;
  readonly source: pg.Client;
  readonly target: pg.Client;
  readonly tables: Map<number, ApplyTable>;
  sequences: readonly SequenceInfo[];
  /** The link's applied position. */
  position: Snapshot;
  /** Tables a copy is running for: batches leave them alone. */
  readonly busy: Set<number>;
  /** The target's catalog, refreshed after DDL and every few seconds. */
  targetCatalog?: {
    readonly tables: Map<string, TableInfo>;
    readonly order: string[];
    readonly readAt: number;
  };
  /** Staging tables that exist in the target session. */
  readonly staged: Set<number>;
  /** Sequence values last set on the target. */
  readonly sequenceValues: Map<string, string>;
  /** Whether the target session runs with session_replication_role = replica (no FK or user triggers). */
  readonly replicaMode: boolean;
  /** The source's catalog as last read, and the version it was read at (see `catalogVersionSql`). */
  sourceCatalog?: { readonly version: string; readonly tables: Map<number, TableInfo> };
  /** How the source's planner is set in the batch's transaction (see `planFor`). */
  sourcePlan?: 'lookups' | 'scans';
}

/** A change to a table's definition that the link cannot follow by itself. */
export class SchemaChangeError extends Error {
  constructor(
    readonly table: string,
    readonly side: 'source' | 'target',
    readonly change: string,
  ) {
    super(`table "${table}" changed on the ${side}: ${change}`);
    this.name = 'SchemaChangeError';
  }
}

/** The link was stopped (or promoted) while a batch ran: the batch was rolled back, nothing applied. */
export class LinkStoppedError extends Error {
  constructor() {
    super('the link was stopped while a batch ran; the batch was rolled back');
    this.name = 'LinkStoppedError';
  }
}

/** The SQLSTATE the batch's own check raises when the link is no longer meant to run. */
const LINK_STOPPED_SQLSTATE = 'SW001';

/** What a batch did. */
export interface BatchResult {
  /** The source snapshot the target now reflects (or would, for an uncommitted empty batch). */
  readonly snapshot: Snapshot;
  /** Source clock time the snapshot was taken. */
  readonly at: Date;
  /** Changed keys refreshed plus rows copied. */
  readonly rows: number;
  readonly tables: readonly number[];
  readonly ddl: number;
  /** Whether the position was written to the target. */
  readonly committed: boolean;
  readonly empty: boolean;
}

interface SourceEvent {
  readonly seq: string;
  readonly txid: string;
  readonly kind: 'truncate' | 'ddl' | 'resync';
  readonly table: number | null;
  readonly payload: string | null;
}

interface Header {
  readonly snapshot: Snapshot;
  readonly at: Date;
  /** Tables with changes: how many (counted up to twice BIG_BATCH_ROWS), and whether any is not an insert. */
  readonly changed: { id: number; n: number; u: boolean }[];
  readonly events: SourceEvent[];
  readonly catalog: Map<number, TableInfo>;
  readonly sequences: { name: string; value: string; called: boolean }[];
}

const TARGET_CATALOG_MAX_AGE_MS = 5_000;

/** From this many changes in one table, a batch reads by hash joins rather than index lookups. */
const BIG_BATCH_ROWS = 5_000;

/**
 * Memory for the hashes of a big batch's joins and aggregates, on both sides: at the default 4 MB a
 * 200,000-key batch spills them to disk in several passes.
 */
const BIG_WORK_MEM = "SET LOCAL work_mem = '64MB'";

/**
 * Sets the source's planner for the reads that follow, in the batch's transaction: index lookups for
 * a few changed keys, hash joins and scans for many. Only a change is sent (each statement is a round
 * trip the source, the applier and the machine pay for, ten times a second under load).
 */
async function planFor(context: BatchContext, plan: 'lookups' | 'scans'): Promise<void> {
  if (context.sourcePlan === plan) return;
  await context.source.query(
    plan === 'scans'
      ? `SET LOCAL enable_seqscan = on; SET LOCAL enable_nestloop = off; ${BIG_WORK_MEM}`
      : 'SET LOCAL enable_seqscan = off; SET LOCAL enable_nestloop = on',
  );
  context.sourcePlan = plan;
}

function activeTables(context: BatchContext): ApplyTable[] {
  return [...context.tables.values()].filter((t) => t.state === 'replicating' && !context.busy.has(t.id));
}

function baseOf(context: BatchContext, table: ApplyTable): Snapshot {
  return table.position ?? context.position;
}

function logKeyColumns(table: ApplyTable): string[] {
  return table.logKey.map((_, i) => `k${i + 1}`);
}

/** The log rows (key columns, and `also`) of the table's changes not yet applied, from both generations. */
function changedKeysSql(context: BatchContext, table: ApplyTable, also: readonly string[] = []): string {
  const filter = notVisibleFilter(baseOf(context, table));
  const columns = [...logKeyColumns(table), ...also].join(', ');
  return `SELECT ${columns} FROM ${logTable(context.link, table.id, 0)} WHERE ${filter}
          UNION ALL SELECT ${columns} FROM ${logTable(context.link, table.id, 1)} WHERE ${filter}`;
}

/**
 * A cheap fingerprint of the tables' catalog rows: their pg_class, pg_attribute and pg_index row
 * versions. Any DDL on a table changes it; the full catalog is read again only then.
 */
function catalogVersionSql(oids: readonly number[]): string {
  return `SELECT string_agg(c.oid || ':' || c.xmin || ':' || c.relnatts || ':' ||
      coalesce((SELECT string_agg(a.xmin::text, ',' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0), '') || ':' ||
      coalesce((SELECT string_agg(i.indexrelid || '/' || i.xmin, ',' ORDER BY i.indexrelid) FROM pg_index i WHERE i.indrelid = c.oid), ''),
    ';' ORDER BY c.oid) FROM pg_class c WHERE c.oid = ANY('{${oids.join(',')}}'::oid[])`;
}

function headerSql(context: BatchContext): string {
  const schema = linkSchema(context.link);
  const tables = [...context.tables.values()];
  // How many changes each table has, counted up to a cap: enough to tell a small batch from a big one.
  const probes = activeTables(context).map((table) => {
    const filter = notVisibleFilter(baseOf(context, table));
    const count = (g: number) =>
      `(SELECT count(*) FROM (SELECT 1 FROM ${logTable(context.link, table.id, g)} WHERE ${filter} LIMIT ${BIG_BATCH_ROWS}) l)`;
    const updates = (g: number) =>
      `EXISTS (SELECT 1 FROM ${logTable(context.link, table.id, g)} WHERE ${filter} AND op <> 'i')`;
    return `SELECT ${table.id} AS id, ${count(0)} + ${count(1)} AS n, ${updates(0)} OR ${updates(1)} AS u`;
  });
  const bases = [context.position, ...tables.flatMap((t) => (t.position ? [t.position] : []))];
  let oldest = context.position.xmin;
  for (const base of bases) if (base.xmin < oldest) oldest = base.xmin;
  return `SELECT pg_current_snapshot()::text AS snapshot, extract(epoch FROM clock_timestamp())::float8 AS at,
  (SELECT coalesce(json_agg(json_build_object('id', id, 'n', n, 'u', u)), '[]')
     FROM (${probes.length ? probes.join(' UNION ALL ') : 'SELECT NULL::int AS id, 0 AS n, false AS u WHERE false'}) p WHERE n > 0) AS changed,
  (SELECT coalesce(json_agg(json_build_object('seq', seq::text, 'txid', txid::text, 'kind', kind, 'table', table_id,
     'payload', payload) ORDER BY seq), '[]') FROM ${qualified(schema, 'events')} WHERE txid >= '${oldest}'::xid8) AS events,
  (${catalogVersionSql(tables.map((t) => t.oid))}) AS catalog_version,
  (SELECT coalesce(json_agg(x), '[]') FROM (${sequenceStateSql(context.sequences)}) x) AS sequences`;
}

async function readHeader(context: BatchContext): Promise<Header> {
  const lockList = [...context.tables.values()].map((t) => qualified(t.info.schema, t.info.name));
  lockList.push(qualified(linkSchema(context.link), 'events'));
  // LOCK before the first snapshot-taking statement: no TRUNCATE or DDL can commit between the
  // snapshot and our reads (TRUNCATE is not MVCC-safe, and rows must have the shape we compare).
  const results = (await context.source.query(
    `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
     SET LOCAL lock_timeout = '5s';
     SET LOCAL enable_seqscan = off;
     SET LOCAL enable_nestloop = on;
     LOCK TABLE ${lockList.join(', ')} IN ACCESS SHARE MODE;
     ${headerSql(context)}`,
  )) as unknown as pg.QueryResult[];
  context.sourcePlan = 'lookups';
  const row = results.at(-1)!.rows[0] as {
    snapshot: string;
    at: number;
    changed: { id: number; n: number; u: boolean }[];
    events: SourceEvent[];
    catalog_version: string | null;
    sequences: { name: string; value: string; called: boolean }[];
  };
  const version = row.catalog_version ?? '';
  const schemaEvents = row.events.some(
    (e) => e.kind !== 'truncate' && !isVisibleIn(BigInt(e.txid), context.position),
  );
  if (context.sourceCatalog?.version !== version || schemaEvents) {
    await refreshSourceCatalog(context, version);
  }
  return {
    snapshot: parseSnapshot(row.snapshot),
    at: new Date(row.at * 1000),
    changed: row.changed,
    events: row.events,
    catalog: context.sourceCatalog!.tables,
    sequences: row.sequences,
  };
}

/** Reads the tables' catalog and the keys the capture logs record (in the batch's transaction). */
async function refreshSourceCatalog(context: BatchContext, version: string): Promise<void> {
  const schema = linkSchema(context.link);
  const { rows } = await context.source.query<{
    catalog: unknown[];
    captured: { id: number; key: string[] }[];
  }>(
    `SELECT (${catalogJsonSql([...context.tables.values()].map((t) => t.oid))}) AS catalog,
            (SELECT coalesce(json_agg(json_build_object('id', id, 'key', key_columns)), '[]') FROM ${qualified(schema, 'tables')}) AS captured`,
  );
  const tables = new Map<number, TableInfo>();
  for (const entry of rows[0]!.catalog) {
    const info = catalogRowToTable(entry);
    if (info) tables.set(info.oid, info);
  }
  context.sourceCatalog = { version, tables };
  for (const captured of rows[0]!.captured) {
    const table = context.tables.get(captured.id);
    if (table && table.logKey.join(',') !== captured.key.join(',')) {
      table.logKey = captured.key;
      context.staged.delete(table.id);
    }
  }
}

async function refreshTargetCatalog(context: BatchContext): Promise<void> {
  const names = [...context.tables.values()].map((t) => tableName(t.info));
  const tables = await tablesByName(context.target, names);
  const edges = await foreignKeys(context.target, names);
  context.targetCatalog = { tables, order: parentsFirst(names, edges), readAt: Date.now() };
}

/**
 * Checks that both sides agree on each active table's shape.
 * @throws SchemaChangeError naming the table, the side that changed and what changed
 */
function checkShapes(context: BatchContext, header: Header): void {
  for (const table of activeTables(context)) {
    const source = header.catalog.get(table.oid);
    const sourceShape = source ? shapeOf(source) : undefined;
    const target = context.targetCatalog?.tables.get(sourceShape?.table ?? tableName(table.info));
    const targetShape = target ? shapeOf(target) : undefined;
    const name = tableName(table.info);
    const sourceChange = describeShapeChange(table.shape, sourceShape);
    if (sourceChange) throw new SchemaChangeError(name, 'source', sourceChange);
    const targetChange = describeShapeChange(table.shape, targetShape);
    if (targetChange) throw new SchemaChangeError(name, 'target', targetChange);
  }
}

function stagingName(table: ApplyTable): string {
  return qualified('pg_temp', `_slipway_stage_${table.id}`);
}

async function ensureStaging(context: BatchContext, table: ApplyTable): Promise<void> {
  if (context.staged.has(table.id)) return;
  const columns = copiedColumns(table.info);
  // Emptied by every commit; created once per session (again after a schema change).
  await context.target.query(
    `DROP TABLE IF EXISTS ${stagingName(table)};
     CREATE TEMP TABLE ${ident(`_slipway_stage_${table.id}`)} ON COMMIT DELETE ROWS AS
       SELECT NULL::boolean AS _present, NULL::"char" AS _op, ${columnList(columns)}
         FROM ${qualified(table.info.schema, table.info.name)} WITH NO DATA`,
  );
  context.staged.add(table.id);
}

/** What a table's staged changes hold, by kind of key. */
interface StagedCounts {
  /** Keys absent in the batch snapshot: deleted. */
  deleted: number;
  /** Keys only inserted in the batch: new on the replica. */
  inserted: number;
  /** Keys only updated in the batch: present on the replica. */
  updated: number;
  /** Keys with mixed changes, present in the batch snapshot. */
  mixed: number;
}

/**
 * Copies the rows of changed keys (as of the batch snapshot) into the table's staging table, with
 * whether each is present and how it changed ("i" only inserted, "u" only updated, "m" mixed).
 */
async function stageChanges(context: BatchContext, table: ApplyTable, big: boolean): Promise<StagedCounts> {
  await ensureStaging(context, table);
  const info = table.info;
  const columns = copiedColumns(info);
  const logKeys = logKeyColumns(table);
  const others = columns.slice(info.key.length);
  // The log's key columns follow the key the capture was installed with (same order as info.key).
  const present = `t.${ident(info.key[0]!)} IS NOT NULL`;
  const join = info.key.map((k, i) => `t.${ident(k)} = k.${logKeys[i]}`).join(' AND ');
  const select = [
    present,
    'k.op',
    ...logKeys.map((k) => `k.${k}`),
    ...others.map((c) => `t.${ident(c)}`),
  ].join(', ');
  const keys = logKeys.join(', ');
  const changes = `SELECT ${keys}, CASE WHEN bool_and(op = 'i') THEN 'i' WHEN bool_and(op = 'u') THEN 'u' ELSE 'm' END AS op
      FROM (${changedKeysSql(context, table, ['op'])}) l GROUP BY ${keys}`;
  const name = qualified(info.schema, info.name);
  // Many keys: hash them and scan the table once past them, streaming rows as the scan goes (as a
  // MATERIALIZED CTE, the keys' row estimate is poor and the planner hashes the whole table instead).
  // Few: look each up by its index.
  const sql = big
    ? `COPY (SELECT ${select} FROM (${changes}) k LEFT JOIN ${name} t ON ${join}) TO STDOUT`
    : `COPY (WITH k AS MATERIALIZED (${changes}) SELECT ${select} FROM k LEFT JOIN ${name} t ON ${join}) TO STDOUT`;
  await planFor(context, big ? 'scans' : 'lookups');
  const counts: StagedCounts = { deleted: 0, inserted: 0, updated: 0, mixed: 0 };
  await pipeCopy(
    context.source,
    sql,
    context.target,
    `COPY ${stagingName(table)} (_present, _op, ${columnList(columns)}) FROM STDIN`,
    {
      // Each row starts "t\tu\t…": present, then the kind of change.
      onRow: (row) => {
        if (row[0] === 0x66) counts.deleted += 1;
        else if (row[2] === 0x69) counts.inserted += 1;
        else if (row[2] === 0x75) counts.updated += 1;
        else counts.mixed += 1;
      },
    },
  );
  return counts;
}

/**
 * Copies a big set of new rows straight into the table (replica mode only, where no constraint
 * trigger fires): COPY's bulk insert is the fastest way in. Returns undefined, having written
 * nothing, when the copy meets a key the replica already has (a key an INSERT … ON CONFLICT DO
 * NOTHING met on the source): the table is then staged like any other.
 */
async function copyNewRows(context: BatchContext, table: ApplyTable): Promise<number | undefined> {
  const info = table.info;
  const name = qualified(info.schema, info.name);
  const keys = logKeyColumns(table).join(', ');
  await planFor(context, 'scans');
  const match = `(${info.key.map((k) => `t.${ident(k)}`).join(', ')}) IN (SELECT ${keys} FROM (${changedKeysSql(context, table)}) l)`;
  await context.target.query('SAVEPOINT slipway_big');
  try {
    const { rows } = await pipeCopy(
      context.source,
      `COPY (SELECT ${columnList(copiedColumns(info), 't')} FROM ${name} t WHERE ${match}) TO STDOUT`,
      context.target,
      `COPY ${name} (${columnList(copiedColumns(info))}) FROM STDIN`,
    );
    await context.target.query('RELEASE SAVEPOINT slipway_big');
    return rows;
  } catch (error) {
    if ((error as { code?: string }).code !== '23505') throw error;
    await context.target.query('ROLLBACK TO SAVEPOINT slipway_big');
    return undefined;
  }
}

/** Replaces a table's whole content with the source's (after TRUNCATE on the source, or a resync). */
export async function copyWholeTable(
  source: pg.Client,
  target: pg.Client,
  info: TableInfo,
  onProgress?: (rows: number) => void,
): Promise<number> {
  const name = qualified(info.schema, info.name);
  await target.query('SAVEPOINT slipway_truncate');
  try {
    await target.query(`TRUNCATE ${name}`);
  } catch (error) {
    // A table other tables reference cannot be truncated alone; DELETE empties it the same way.
    await target.query('ROLLBACK TO SAVEPOINT slipway_truncate');
    if ((error as { code?: string }).code !== '0A000') throw error;
    await target.query(`DELETE FROM ${name}`);
  }
  await target.query('RELEASE SAVEPOINT slipway_truncate');
  const columns = columnList(copiedColumns(info));
  const { rows } = await pipeCopy(
    source,
    `COPY (SELECT ${columns} FROM ${name}) TO STDOUT`,
    target,
    `COPY ${name} (${columns}) FROM STDIN`,
    onProgress ? { onProgress } : {},
  );
  return rows;
}

function applyStatements(
  table: ApplyTable,
  counts: StagedCounts,
  mode: 'merge' | 'replace',
  replicaMode: boolean,
): { deletes: string[]; inserts: string[] } {
  const info = table.info;
  const name = qualified(info.schema, info.name);
  const staging = stagingName(table);
  const columns = copiedColumns(info);
  const others = columns.slice(info.key.length);
  const overriding = info.columns.some((c) => c.identityAlways) ? ' OVERRIDING SYSTEM VALUE' : '';
  const match = keyJoin(info.key, 't', 's');
  const insert = (where: string) =>
    `INSERT INTO ${name} (${columnList(columns)})${overriding} SELECT ${columnList(columns)} FROM ${staging} s WHERE ${where}`;
  if (mode === 'replace') {
    return {
      deletes: [`DELETE FROM ${name} t USING ${staging} s WHERE ${match}`],
      inserts: [insert('_present')],
    };
  }
  const deletes =
    counts.deleted > 0 ? [`DELETE FROM ${name} t USING ${staging} s WHERE NOT s._present AND ${match}`] : [];
  const inserts: string[] = [];
  // Keys only updated exist on the replica (it is at the batch's base): update them in one join.
  // Without replica mode a cascading foreign key on the replica may have removed such a row since:
  // those are merged like mixed keys instead.
  const updatedInPlace = replicaMode ? counts.updated : 0;
  const merged = counts.mixed + (replicaMode ? 0 : counts.updated);
  if (updatedInPlace > 0 && others.length > 0) {
    inserts.push(
      `UPDATE ${name} t SET ${others.map((c) => `${ident(c)} = s.${ident(c)}`).join(', ')}
         FROM ${staging} s WHERE s._op = 'u' AND s._present AND ${match}`,
    );
  }
  // Keys only inserted are new on the replica — or untouched ones an INSERT … ON CONFLICT DO NOTHING
  // met on the source, which the replica already has as they are.
  if (counts.inserted > 0) {
    inserts.push(`${insert(`s._op = 'i' AND s._present`)} ON CONFLICT (${columnList(info.key)}) DO NOTHING`);
  }
  if (merged > 0) {
    const conflict =
      others.length === 0
        ? 'DO NOTHING'
        : `DO UPDATE SET ${others.map((c) => `${ident(c)} = EXCLUDED.${ident(c)}`).join(', ')}`;
    const which = replicaMode ? `s._op = 'm'` : `s._op IN ('m', 'u')`;
    inserts.push(`${insert(`${which} AND s._present`)} ON CONFLICT (${columnList(info.key)}) ${conflict}`);
  }
  return { deletes, inserts };
}

/** A table whose changes are staged. */
interface StagedTable {
  readonly table: ApplyTable;
  readonly counts: StagedCounts;
  /**
   * Many changes: every staged key is deleted, then the rows present are inserted (replica mode
   * only). Cheaper than updating in place, which makes each row a new version and indexes it anew
   * all the same, and it needs no ON CONFLICT probe per row.
   */
  readonly big: boolean;
}

/**
 * Applies the staged tables: deletes children first, then upserts parents first. When the merge
 * collides with another unique constraint (two rows swapping a unique value), the batch falls back to
 * deleting every staged key before inserting the new rows, which the source's own state satisfies.
 */
async function applyStaged(context: BatchContext, staged: readonly StagedTable[]): Promise<void> {
  if (staged.length === 0) return;
  if (staged.some((s) => s.big)) await context.target.query(BIG_WORK_MEM);
  const order = context.targetCatalog?.order ?? staged.map((s) => tableName(s.table.info));
  const rank = (t: ApplyTable) => {
    const index = order.indexOf(tableName(t.info));
    return index < 0 ? order.length : index;
  };
  const parents = [...staged].sort((a, b) => rank(a.table) - rank(b.table));
  const statementsFor = (mode: 'merge' | 'replace') => {
    const all = parents.map((s) =>
      applyStatements(
        s.table,
        s.counts,
        s.big && context.replicaMode ? 'replace' : mode,
        context.replicaMode,
      ),
    );
    return [...all.flatMap((s) => s.deletes).reverse(), ...all.flatMap((s) => s.inserts)].join(';\n');
  };
  try {
    await context.target.query(`SAVEPOINT slipway_apply;\n${statementsFor('merge')}`);
  } catch (error) {
    // Another unique constraint collided (two rows swapping a value), or a forged log entry claimed an
    // insert: delete every staged key, then insert the batch's rows, which the source's state satisfies.
    if ((error as { code?: string }).code !== '23505') throw error;
    await context.target.query(`ROLLBACK TO SAVEPOINT slipway_apply;\n${statementsFor('replace')}`);
  }
}

function sequenceUpdates(context: BatchContext, header: Header): string[] {
  const updates: string[] = [];
  for (const sequence of header.sequences) {
    const value = `${sequence.value}/${sequence.called}`;
    if (context.sequenceValues.get(sequence.name) === value) continue;
    const [schema, ...rest] = sequence.name.split('.');
    updates.push(
      `SELECT pg_catalog.setval(${literal(qualified(schema!, rest.join('.')))}, ${sequence.value}, ${sequence.called})`,
    );
  }
  return updates;
}

function rememberSequences(context: BatchContext, header: Header): void {
  for (const sequence of header.sequences) {
    context.sequenceValues.set(sequence.name, `${sequence.value}/${sequence.called}`);
  }
}

/** Options for one batch. */
export interface BatchOptions {
  /** Write the position even when nothing changed (a heartbeat). */
  readonly commitEmpty?: boolean;
  /** Rows per second to record with the position. */
  readonly rate?: (rows: number) => number;
  /**
   * Commit only while the link is meant to run: the batch locks the link's state row and rolls back
   * (LinkStoppedError) when a stop or a promotion was recorded first. A stop waits for a batch that
   * locked the row before it, so once a stop is recorded no batch commits.
   */
  readonly onlyWhileRunning?: boolean;
  /** Runs after the target committed, while the source still holds the batch snapshot (verify). */
  readonly whileHoldingSnapshot?: (snapshot: Snapshot) => Promise<void>;
}

/** The result of a poll that found nothing to apply and wrote nothing. */
function idleResult(header: Header): BatchResult {
  return {
    snapshot: header.snapshot,
    at: header.at,
    rows: 0,
    tables: [],
    ddl: 0,
    committed: false,
    empty: true,
  };
}

/**
 * Applies one batch. Both transactions are rolled back when anything fails, leaving the target at its
 * previous position.
 * @throws SchemaChangeError when a table's shape differs between the sides
 */
export async function applyBatch(context: BatchContext, options: BatchOptions = {}): Promise<BatchResult> {
  const schema = linkSchema(context.link);
  let targetOpen = false;
  try {
    const header = await readHeader(context);
    const position = context.position;
    const ddl = header.events.filter((e) => e.kind === 'ddl' && !isVisibleIn(BigInt(e.txid), position));
    const fullCopies = new Set<number>();
    for (const event of header.events) {
      if ((event.kind !== 'truncate' && event.kind !== 'resync') || event.table === null) continue;
      const table = context.tables.get(event.table);
      if (table?.state !== 'replicating' || context.busy.has(table.id)) continue;
      if (!isVisibleIn(BigInt(event.txid), baseOf(context, table))) fullCopies.add(table.id);
    }
    const changed = header.changed.filter((c) => !fullCopies.has(c.id));
    const empty = ddl.length === 0 && fullCopies.size === 0 && changed.length === 0;
    // Nothing to apply and no heartbeat due: the position stays where it is, so nothing is written.
    const idle = empty && !options.commitEmpty && !options.whileHoldingSnapshot;
    const catalogAge = Date.now() - (context.targetCatalog?.readAt ?? 0);
    if (idle && catalogAge <= TARGET_CATALOG_MAX_AGE_MS) {
      // The target's catalog is recent enough to compare shapes with: an idle poll costs the target nothing.
      checkShapes(context, header);
      for (const table of activeTables(context)) table.info = header.catalog.get(table.oid) ?? table.info;
      await context.source.query('COMMIT');
      return idleResult(header);
    }

    // Asynchronous commit, as PostgreSQL's own subscriptions apply: the position commits with the
    // batch, so a batch the target loses in a crash is simply applied again from the source's log,
    // which is trimmed only up to what the target has made durable (see the applier's maintenance).
    // The target then spends no fsync per batch.
    await context.target.query('BEGIN; SET LOCAL synchronous_commit = off');
    targetOpen = true;
    for (const event of ddl) await context.target.query(event.payload ?? '');
    if (ddl.length > 0 || catalogAge > TARGET_CATALOG_MAX_AGE_MS) {
      if (ddl.length > 0) context.staged.clear();
      await refreshTargetCatalog(context);
    }
    // Rows are read as they are now: the source's current shape is the one to compare.
    for (const table of context.tables.values()) {
      const info = header.catalog.get(table.oid);
      if (ddl.length > 0 && info) table.shape = shapeOf(info);
    }
    checkShapes(context, header);
    for (const table of activeTables(context)) table.info = header.catalog.get(table.oid) ?? table.info;

    if (idle) {
      // Only the target's catalog was due for a refresh (to notice DDL made on the replica).
      await context.target.query('ROLLBACK');
      targetOpen = false;
      await context.source.query('COMMIT');
      return idleResult(header);
    }

    let rows = 0;
    const perTable = new Map<number, number>();
    for (const id of fullCopies) {
      const table = context.tables.get(id)!;
      await planFor(context, 'scans');
      const copied = await copyWholeTable(context.source, context.target, table.info);
      context.staged.delete(id);
      perTable.set(id, copied);
      rows += copied;
    }
    const staged: StagedTable[] = [];
    // Tables with few changes first: their reads share the planner settings the header left.
    const fewFirst = [...changed].sort(
      (a, b) => Number(a.n >= BIG_BATCH_ROWS) - Number(b.n >= BIG_BATCH_ROWS),
    );
    for (const { id, n, u } of fewFirst) {
      const table = context.tables.get(id);
      if (!table) continue;
      const big = n >= BIG_BATCH_ROWS;
      const copied = big && !u && context.replicaMode ? await copyNewRows(context, table) : undefined;
      if (copied !== undefined) {
        perTable.set(id, copied);
        rows += copied;
        continue;
      }
      const counts = await stageChanges(context, table, big);
      const count = counts.deleted + counts.inserted + counts.updated + counts.mixed;
      perTable.set(id, count);
      rows += count;
      staged.push({ table, counts, big });
    }
    const sequenceSql = sequenceUpdates(context, header);
    // Everything is read: release the snapshot while the target applies (the client queues the rest).
    const sourceCommitted = options.whileHoldingSnapshot ? undefined : context.source.query('COMMIT');
    sourceCommitted?.catch(() => undefined);

    await applyStaged(context, staged);
    const ids = [...perTable.keys()];
    const counts = ids.map((id) => perTable.get(id)!);
    const shapes = ddl.length > 0 ? activeTables(context) : [];
    const rate = options.rate?.(rows) ?? 0;
    const statements = [
      ...(options.onlyWhileRunning
        ? [
            `DO $slipway$ DECLARE desired text; BEGIN
               SELECT s.desired INTO desired FROM ${qualified(schema, 'state')} s FOR UPDATE;
               IF desired IS DISTINCT FROM 'running' THEN
                 RAISE EXCEPTION 'the link is %', desired USING ERRCODE = '${LINK_STOPPED_SQLSTATE}';
               END IF;
             END $slipway$`,
          ]
        : []),
      ...sequenceSql,
      `UPDATE ${qualified(schema, 'state')} SET position = ${literal(formatSnapshot(header.snapshot))},
         synced_at = to_timestamp(${header.at.getTime() / 1000}), applied_at = now(),
         batches = batches + ${empty ? 0 : 1}, rows_applied = rows_applied + ${rows}, rate = ${rate},
         heartbeat_at = now(), last_error = NULL, last_error_at = NULL`,
      ...(activeTables(context).some((t) => t.position)
        ? [
            `UPDATE ${qualified(schema, 'tables')} SET position = NULL WHERE id = ANY('{${activeTables(
              context,
            )
              .filter((t) => t.position)
              .map((t) => t.id)
              .join(',')}}'::int[])`,
          ]
        : []),
      ...(ids.length > 0
        ? [
            `UPDATE ${qualified(schema, 'tables')} t SET rows_applied = t.rows_applied + c.n, changed_at = now()
               FROM unnest('{${ids.join(',')}}'::int[], '{${counts.join(',')}}'::bigint[]) c(id, n) WHERE t.id = c.id`,
          ]
        : []),
      ...shapes.map(
        (t) =>
          `UPDATE ${qualified(schema, 'tables')} SET shape = ${literal(JSON.stringify(t.shape))} WHERE id = ${t.id}`,
      ),
    ];
    await context.target.query(`${statements.join(';\n')};\nCOMMIT`);
    targetOpen = false;
    await sourceCommitted;
    context.position = header.snapshot;
    for (const table of activeTables(context)) table.position = undefined;
    rememberSequences(context, header);
    if (options.whileHoldingSnapshot) {
      try {
        await options.whileHoldingSnapshot(header.snapshot);
      } finally {
        await context.source.query('COMMIT');
      }
    }
    return {
      snapshot: header.snapshot,
      at: header.at,
      rows,
      tables: ids,
      ddl: ddl.length,
      committed: true,
      empty,
    };
  } catch (error) {
    if (targetOpen) await context.target.query('ROLLBACK').catch(() => undefined);
    await context.source.query('ROLLBACK').catch(() => undefined);
    if ((error as { code?: string }).code === LINK_STOPPED_SQLSTATE) throw new LinkStoppedError();
    throw error;
  }
}
