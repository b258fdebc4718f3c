/**
 * Compares a table on both sides by row count and by checksums over chunks of consecutive keys, and
 * names the first chunk (key range) that differs. Both sides hash each row's text in the same session
 * settings, in the same key order (text keys ordered bytewise so collations cannot differ).
 */
import type pg from 'pg';
import { copiedColumns, type TableInfo, tableName } from './catalog.ts';
import { columnList, ident, qualified } from './internal/sql.ts';

/** Rows per checksum chunk. */
export const DEFAULT_CHUNK_ROWS = 10_000;

/** One chunk's summary on one side. */
interface Chunk {
  readonly chunk: number;
  readonly rows: number;
  readonly hash: string;
  readonly first: string;
  readonly last: string;
}

/** How one table compares. */
export interface TableComparison {
  readonly table: string;
  readonly sourceRows: number;
  readonly targetRows: number;
  readonly chunks: number;
  readonly identical: boolean;
  /** The first key range whose rows differ, with each side's count in it. */
  readonly firstDifference?: {
    readonly fromKey: string;
    readonly toKey: string;
    readonly sourceRows: number;
    readonly targetRows: number;
  };
}

/** The result of verifying a link. */
export interface VerifyResult {
  readonly identical: boolean;
  readonly checkedAt: string;
  /** The source snapshot both sides were compared at, when they were compared at one. */
  readonly position: string | null;
  /** Changes not yet applied when the sides were compared (non-zero only for a stopped link). */
  readonly pendingChanges: number;
  readonly tables: readonly TableComparison[];
  /** Tables skipped because they were being copied. */
  readonly skipped: readonly string[];
}

async function collatableKeys(client: pg.Client, table: TableInfo): Promise<Set<string>> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT a.attname AS name FROM pg_attribute a
      WHERE a.attrelid = $1::regclass AND a.attname = ANY($2::text[]) AND a.attcollation <> 0`,
    [qualified(table.schema, table.name), table.key],
  );
  return new Set(rows.map((r) => r.name));
}

function chunkSql(table: TableInfo, collatable: Set<string>, chunkRows: number): string {
  const order = table.key.map((k) => (collatable.has(k) ? `${ident(k)} COLLATE "C"` : ident(k))).join(', ');
  const columns = columnList(copiedColumns(table));
  const key = `ROW(${columnList(table.key)})::text`;
  return `SELECT chunk::int AS chunk, count(*)::int AS rows, md5(string_agg(h, '' ORDER BY rn)) AS hash,
                 (array_agg(k ORDER BY rn))[1] AS first, (array_agg(k ORDER BY rn DESC))[1] AS last
            FROM (SELECT (row_number() OVER w - 1) / ${chunkRows} AS chunk, row_number() OVER w AS rn,
                         md5(ROW(${columns})::text) AS h, ${key} AS k
                    FROM ${qualified(table.schema, table.name)} WINDOW w AS (ORDER BY ${order})) x
           GROUP BY chunk ORDER BY chunk`;
}

/**
 * Compares one table. `source` and `target` must each see the state to compare (the source inside
 * the batch's snapshot, the target after the batch committed).
 */
export async function compareTable(
  source: pg.Client,
  target: pg.Client,
  table: TableInfo,
  chunkRows = DEFAULT_CHUNK_ROWS,
): Promise<TableComparison> {
  const collatable = await collatableKeys(source, table);
  const sql = chunkSql(table, collatable, chunkRows);
  const [left, right] = await Promise.all([source.query<Chunk>(sql), target.query<Chunk>(sql)]);
  const sourceRows = left.rows.reduce((sum, c) => sum + c.rows, 0);
  const targetRows = right.rows.reduce((sum, c) => sum + c.rows, 0);
  const chunks = Math.max(left.rows.length, right.rows.length);
  for (let i = 0; i < chunks; i++) {
    const a = left.rows[i];
    const b = right.rows[i];
    if (a && b && a.hash === b.hash && a.rows === b.rows) continue;
    const keys = [a?.first, b?.first].filter((k): k is string => k !== undefined);
    const ends = [a?.last, b?.last].filter((k): k is string => k !== undefined);
    return {
      table: tableName(table),
      sourceRows,
      targetRows,
      chunks,
      identical: false,
      firstDifference: {
        fromKey: keys.sort()[0] ?? '',
        toKey: ends.sort().at(-1) ?? '',
        sourceRows: a?.rows ?? 0,
        targetRows: b?.rows ?? 0,
      },
    };
  }
  return { table: tableName(table), sourceRows, targetRows, chunks, identical: true };
}

/** Compares every table; one result per table, in the given order. */
export async function compareTables(
  source: pg.Client,
  target: pg.Client,
  tables: readonly TableInfo[],
  options: { chunkRows?: number; position?: string | null; pendingChanges?: number; skipped?: string[] } = {},
): Promise<VerifyResult> {
  const results: TableComparison[] = [];
  for (const table of tables) results.push(await compareTable(source, target, table, options.chunkRows));
  return {
    identical: results.every((r) => r.identical),
    checkedAt: new Date().toISOString(),
    position: options.position ?? null,
    pendingChanges: options.pendingChanges ?? 0,
    tables: results,
    skipped: options.skipped ?? [],
  };
}
