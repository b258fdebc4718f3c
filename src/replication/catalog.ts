/**
 * What the engine reads from a database's catalog: the replicated tables (columns, key, fingerprint),
 * the sequences that follow them, and the foreign keys that order the apply.
 */
import type pg from 'pg';
import { literal } from './internal/sql.ts';

/** One column of a replicated table. */
export interface ColumnInfo {
  readonly name: string;
  /** As format_type prints it: "integer", "character varying(40)", "jsonb". */
  readonly type: string;
  readonly notNull: boolean;
  /** A stored generated column: never copied, the replica computes it. */
  readonly generated: boolean;
  /** GENERATED ALWAYS AS IDENTITY: inserts need OVERRIDING SYSTEM VALUE. */
  readonly identityAlways: boolean;
}

/** A table as the engine sees it. */
export interface TableInfo {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  readonly columns: readonly ColumnInfo[];
  /** The primary key's columns (or a unique index over NOT NULL columns), in index order. */
  readonly key: readonly string[];
  /** The key columns' types, in the same order. */
  readonly keyTypes: readonly string[];
}

/** "schema.table" as users write it. */
export function tableName(table: { readonly schema: string; readonly name: string }): string {
  return `${table.schema}.${table.name}`;
}

/** The columns the engine copies: every column except stored generated ones, key columns first. */
export function copiedColumns(table: TableInfo): string[] {
  const rest = table.columns.filter((c) => !c.generated && !table.key.includes(c.name)).map((c) => c.name);
  return [...table.key, ...rest];
}

const TABLES_SQL = `
SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
  c.relispartition AS "isPartition",
  (SELECT coalesce(json_agg(json_build_object(
      'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'notNull', a.attnotnull,
      'generated', a.attgenerated <> '', 'identityAlways', a.attidentity = 'a') ORDER BY a.attnum), '[]')
   FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
  (SELECT json_build_object('columns', json_agg(a.attname ORDER BY k.ord),
                            'types', json_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord))
   FROM (SELECT i.indkey FROM pg_index i
         WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
           AND (i.indisprimary OR NOT EXISTS (
             SELECT 1 FROM unnest(i.indkey) ak JOIN pg_attribute aa ON aa.attrelid = c.oid AND aa.attnum = ak
             WHERE NOT aa.attnotnull))
         ORDER BY i.indisprimary DESC, i.indnatts, i.indexrelid LIMIT 1) pk
   CROSS JOIN LATERAL unnest(pk.indkey) WITH ORDINALITY k(attnum, ord)
   JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum) AS key
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
`;

interface TableRow {
  oid: number;
  schema: string;
  name: string;
  kind: string;
  isPartition: boolean;
  columns: ColumnInfo[];
  key: { columns: string[] | null; types: string[] | null } | null;
}

/** A table the engine cannot replicate, and why. */
export interface UnusableTable {
  readonly table: string;
  readonly reason: string;
}

/** What a selection resolves to. */
export interface ResolvedTables {
  readonly tables: readonly TableInfo[];
  readonly missing: readonly string[];
  readonly unusable: readonly UnusableTable[];
}

function toTableInfo(row: TableRow): TableInfo | UnusableTable {
  const table = `${row.schema}.${row.name}`;
  if (!['r', 'p'].includes(row.kind)) return { table, reason: 'it is not a table' };
  if (row.isPartition)
    return { table, reason: 'it is a partition; replicate its partitioned parent instead' };
  if (!row.key?.columns?.length) {
    return { table, reason: 'it has no primary key (or unique index over NOT NULL columns)' };
  }
  return {
    oid: row.oid,
    schema: row.schema,
    name: row.name,
    columns: row.columns,
    key: row.key.columns,
    keyTypes: row.key.types ?? [],
  };
}

/** Splits "schema.table" (or "table", meaning public) into its parts. */
export function splitTableName(text: string): { schema: string; name: string } {
  const dot = text.indexOf('.');
  return dot < 0
    ? { schema: 'public', name: text }
    : { schema: text.slice(0, dot), name: text.slice(dot + 1) };
}

/**
 * Resolves a selection (table names, or every table of a schema) against a database's catalog.
 * Tables of the link's own schemas are never included.
 */
export async function resolveTables(
  client: pg.Client,
  selection: { readonly tables?: readonly string[]; readonly schema?: string },
): Promise<ResolvedTables> {
  if (selection.schema !== undefined) {
    const { rows } = await client.query<TableRow>(
      `${TABLES_SQL} WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname`,
      [selection.schema],
    );
    const tables: TableInfo[] = [];
    const unusable: UnusableTable[] = [];
    for (const row of rows) {
      const info = toTableInfo(row);
      if ('reason' in info) unusable.push(info);
      else tables.push(info);
    }
    return { tables, missing: [], unusable };
  }
  const wanted = (selection.tables ?? []).map(splitTableName);
  const { rows } = await client.query<TableRow>(
    `${TABLES_SQL} WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [wanted.map((w) => w.schema), wanted.map((w) => w.name)],
  );
  const tables: TableInfo[] = [];
  const unusable: UnusableTable[] = [];
  const missing: string[] = [];
  for (const w of wanted) {
    const row = rows.find((r) => r.schema === w.schema && r.name === w.name);
    if (!row) {
      missing.push(`${w.schema}.${w.name}`);
      continue;
    }
    const info = toTableInfo(row);
    if ('reason' in info) unusable.push(info);
    else tables.push(info);
  }
  return { tables, missing, unusable };
}

/** SQL returning the catalog rows of tables by oid, as JSON (for a query that fetches more at once). */
export function catalogJsonSql(oids: readonly number[]): string {
  return `SELECT coalesce(json_agg(x), '[]') FROM (${TABLES_SQL} WHERE c.oid = ANY('{${oids.join(',')}}'::oid[])) x`;
}

/** Turns a catalog row (from catalogJsonSql) into a table, or undefined when it is no longer usable. */
export function catalogRowToTable(row: unknown): TableInfo | undefined {
  const info = toTableInfo(row as TableRow);
  return 'reason' in info ? undefined : info;
}

/** Reads tables by oid (on the source, where the link keeps oids); a dropped table is absent. */
export async function tablesByOid(
  client: pg.Client,
  oids: readonly number[],
): Promise<Map<number, TableInfo>> {
  const { rows } = await client.query<TableRow>(`${TABLES_SQL} WHERE c.oid = ANY($1::oid[])`, [oids]);
  const result = new Map<number, TableInfo>();
  for (const row of rows) {
    const info = toTableInfo(row);
    if (!('reason' in info)) result.set(row.oid, info);
  }
  return result;
}

/** Reads tables by "schema.table" name (on the target). */
export async function tablesByName(
  client: pg.Client,
  names: readonly string[],
): Promise<Map<string, TableInfo>> {
  const resolved = await resolveTables(client, { tables: names });
  return new Map(resolved.tables.map((t) => [tableName(t), t]));
}

/**
 * A table's shape as replication depends on it: column names with types and whether they are
 * generated, and the key. Defaults, indexes and constraints may differ between the sides.
 */
export interface TableShape {
  readonly table: string;
  readonly columns: readonly (readonly [name: string, type: string, generated: boolean])[];
  readonly key: readonly string[];
}

/** The shape of a table, with columns sorted by name so column order does not matter. */
export function shapeOf(table: TableInfo): TableShape {
  return {
    table: tableName(table),
    columns: table.columns
      .map((c) => [c.name, c.type, c.generated] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
    key: [...table.key],
  };
}

/**
 * Says how `after` differs from `before`, in words ("column "note" (text) was added"), or undefined
 * when they are the same.
 */
export function describeShapeChange(before: TableShape, after: TableShape | undefined): string | undefined {
  if (!after) return 'the table was dropped or renamed';
  const changes: string[] = [];
  if (after.table !== before.table) changes.push(`the table was renamed to "${after.table}"`);
  const old = new Map(before.columns.map((c) => [c[0], c]));
  const now = new Map(after.columns.map((c) => [c[0], c]));
  for (const [name, column] of now) {
    const was = old.get(name);
    if (!was) changes.push(`column "${name}" (${column[1]}) was added`);
    else if (was[1] !== column[1])
      changes.push(`column "${name}" changed type from ${was[1]} to ${column[1]}`);
    else if (was[2] !== column[2])
      changes.push(`column "${name}" ${column[2] ? 'became' : 'is no longer'} a generated column`);
  }
  for (const [name, column] of old) {
    if (!now.has(name)) changes.push(`column "${name}" (${column[1]}) was dropped`);
  }
  if (before.key.join(',') !== after.key.join(',')) {
    changes.push(`the key changed from (${before.key.join(', ')}) to (${after.key.join(', ')})`);
  }
  return changes.length > 0 ? changes.join('; ') : undefined;
}

/** A sequence that follows the replicated tables. */
export interface SequenceInfo {
  readonly schema: string;
  readonly name: string;
}

/** Sequences owned by (or the identity of) the given tables' columns, plus every sequence of `schema`. */
export async function sequencesFor(
  client: pg.Client,
  tableOids: readonly number[],
  schema?: string,
): Promise<SequenceInfo[]> {
  const { rows } = await client.query<SequenceInfo>(
    `SELECT DISTINCT n.nspname AS schema, s.relname AS name
       FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace
       LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
                            AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
      WHERE s.relkind = 'S' AND (d.refobjid = ANY($1::oid[]) OR n.nspname = $2)
      ORDER BY 1, 2`,
    [tableOids, schema ?? null],
  );
  return rows;
}

/** Foreign keys between the given tables (by "schema.table"): child references parent. */
export async function foreignKeys(
  client: pg.Client,
  names: readonly string[],
): Promise<{ child: string; parent: string }[]> {
  if (names.length === 0) return [];
  const { rows } = await client.query<{ child: string; parent: string }>(
    `SELECT cn.nspname || '.' || cc.relname AS child, pn.nspname || '.' || pc.relname AS parent
       FROM pg_constraint k
       JOIN pg_class cc ON cc.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
       JOIN pg_class pc ON pc.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
      WHERE k.contype = 'f' AND (cn.nspname || '.' || cc.relname) = ANY($1::text[])
        AND (pn.nspname || '.' || pc.relname) = ANY($1::text[])`,
    [names],
  );
  return rows.filter((r) => r.child !== r.parent);
}

/**
 * Orders tables so that parents come before the children that reference them (cycles keep their
 * given order). Inserts run in this order, deletes in reverse.
 */
export function parentsFirst(
  names: readonly string[],
  edges: readonly { child: string; parent: string }[],
): string[] {
  const ordered: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string) => {
    if (state.get(name)) return;
    state.set(name, 'visiting');
    for (const edge of edges) if (edge.child === name && names.includes(edge.parent)) visit(edge.parent);
    state.set(name, 'done');
    ordered.push(name);
  };
  for (const name of names) visit(name);
  return ordered;
}

/** Reads a sequence's state: the value the next nextval() starts after. */
export function sequenceStateSql(sequences: readonly SequenceInfo[]): string {
  if (sequences.length === 0)
    return 'SELECT NULL::text AS name, NULL::text AS value, NULL::boolean AS called WHERE false';
  const parts = sequences.map(
    (s) =>
      `SELECT ${literal(`${s.schema}.${s.name}`)} AS name, last_value::text AS value, is_called AS called FROM "${s.schema.replaceAll('"', '""')}"."${s.name.replaceAll('"', '""')}"`,
  );
  return parts.join(' UNION ALL ');
}

/** Foreign keys that cascade (or set null/default) when a row of one of the given tables changes. */
export async function cascadingForeignKeys(
  client: pg.Client,
  names: readonly string[],
): Promise<{ constraint: string; child: string; parent: string }[]> {
  if (names.length === 0) return [];
  const { rows } = await client.query<{ constraint: string; child: string; parent: string }>(
    `SELECT k.conname AS constraint, cn.nspname || '.' || cc.relname AS child, pn.nspname || '.' || pc.relname AS parent
       FROM pg_constraint k
       JOIN pg_class cc ON cc.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
       JOIN pg_class pc ON pc.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
      WHERE k.contype = 'f' AND (k.confdeltype IN ('c', 'n', 'd') OR k.confupdtype IN ('c', 'n', 'd'))
        AND (pn.nspname || '.' || pc.relname) = ANY($1::text[])
      ORDER BY 1`,
    [names],
  );
  return rows;
}
