/**
 * Copies whole tables from the source into the target (the initial copy, and `resync TABLE`): each
 * table in its own transaction, from a consistent source snapshot that becomes that table's position,
 * so the changes captured meanwhile join it seamlessly. Runs beside the batches on its own connections.
 */
import type pg from 'pg';
import { copyWholeTable, SchemaChangeError } from './batch.ts';
import {
  describeShapeChange,
  shapeOf,
  type TableInfo,
  tableName,
  tablesByName,
  tablesByOid,
} from './catalog.ts';
import { formatSnapshot, parseSnapshot, type Snapshot } from './internal/snapshot.ts';
import { linkSchema, literal, qualified } from './internal/sql.ts';

/** Progress of one table's copy. */
export interface CopyProgress {
  readonly tableId: number;
  readonly table: string;
  readonly rowsDone: number;
  readonly rowsTotal: number | null;
}

/** What a finished copy leaves: the table's content is the source's as of `position`. */
export interface CopyResult {
  readonly tableId: number;
  readonly rows: number;
  readonly position: Snapshot;
  readonly info: TableInfo;
}

/** Somewhere to write progress that others can read while the copy's transaction is open. */
export interface ProgressWriter {
  query(text: string, values?: unknown[]): Promise<unknown>;
}

/** Connections a copy uses: its own pair, plus a writer for its progress. */
export interface CopyConnections {
  readonly source: pg.Client;
  readonly target: pg.Client;
  readonly progress?: ProgressWriter;
}

/**
 * Copies one table and records, in the same target transaction, that it now replicates from the copy's
 * snapshot.
 * @throws SchemaChangeError when the table's shape differs between the sides
 */
export async function copyTable(
  connections: CopyConnections,
  link: string,
  table: { readonly id: number; readonly oid: number },
  onProgress?: (progress: CopyProgress) => void,
): Promise<CopyResult> {
  const { source, target, progress } = connections;
  const schema = linkSchema(link);
  let sourceOpen = false;
  let targetOpen = false;
  try {
    const header = (await source.query(
      `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
       SET LOCAL lock_timeout = '30s';
       SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ${table.oid}`,
    )) as unknown as pg.QueryResult<{ name: string }>[];
    sourceOpen = true;
    const lockName = header.at(-1)!.rows[0]?.name;
    if (!lockName) throw new SchemaChangeError(`table ${table.id}`, 'source', 'the table was dropped');
    // The lock comes before the snapshot: no TRUNCATE or DDL slips in between.
    await source.query(`LOCK TABLE ${lockName} IN ACCESS SHARE MODE`);
    const snap = await source.query<{ snapshot: string; estimate: number; info: unknown }>(
      `SELECT pg_current_snapshot()::text AS snapshot, greatest(c.reltuples, 0)::float8 AS estimate
         FROM pg_class c WHERE c.oid = ${table.oid}`,
    );
    const position = parseSnapshot(snap.rows[0]!.snapshot);
    const info = (await tablesByOid(source, [table.oid])).get(table.oid);
    if (!info) throw new SchemaChangeError(lockName, 'source', 'the table has no usable key any more');
    const name = tableName(info);
    const targetInfo = (await tablesByName(target, [name])).get(name);
    const difference = describeShapeChange(shapeOf(info), targetInfo ? shapeOf(targetInfo) : undefined);
    if (difference) throw new SchemaChangeError(name, 'target', difference);

    const total = Math.round(snap.rows[0]!.estimate);
    const report = async (rowsDone: number) => {
      onProgress?.({ tableId: table.id, table: name, rowsDone, rowsTotal: total || null });
      await progress
        ?.query(
          `INSERT INTO ${qualified(schema, 'progress')} (table_id, rows_done, rows_total, started_at, updated_at)
           VALUES ($1, $2, $3, now(), now())
           ON CONFLICT (table_id) DO UPDATE SET rows_done = EXCLUDED.rows_done, updated_at = now()`,
          [table.id, rowsDone, total || null],
        )
        .catch(() => undefined);
    };
    await target.query('BEGIN');
    targetOpen = true;
    await report(0);
    let last = 0;
    const rows = await copyWholeTable(source, target, info, (done) => {
      if (Date.now() - last < 1000) return;
      last = Date.now();
      void report(done);
    });
    await target.query(
      `UPDATE ${qualified(schema, 'tables')} SET state = 'replicating', position = ${literal(formatSnapshot(position))},
              rows_copied = ${rows}, copied_at = now(), shape = ${literal(JSON.stringify(shapeOf(info)))},
              schema_name = ${literal(info.schema)}, table_name = ${literal(info.name)}
        WHERE id = ${table.id};
       COMMIT`,
    );
    targetOpen = false;
    await source.query('COMMIT');
    sourceOpen = false;
    await progress
      ?.query(`DELETE FROM ${qualified(schema, 'progress')} WHERE table_id = $1`, [table.id])
      .catch(() => undefined);
    onProgress?.({ tableId: table.id, table: name, rowsDone: rows, rowsTotal: rows });
    return { tableId: table.id, rows, position, info };
  } catch (error) {
    if (targetOpen) await target.query('ROLLBACK').catch(() => undefined);
    if (sourceOpen) await source.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
