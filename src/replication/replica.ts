/**
 * The link's objects on the target: its state (the applied position, written in the same transaction
 * as each batch), per-table state and progress, requests for the applier, and the guard triggers that
 * keep the replica read-only for everyone but the applier.
 */
import type pg from 'pg';
import { CAPTURE_FORMAT, linkSchemaExists, triggerNames } from './capture.ts';
import { type SequenceInfo, shapeOf, type TableInfo, type TableShape } from './catalog.ts';
import { formatSnapshot, parseSnapshot, type Snapshot } from './internal/snapshot.ts';
import { ident, linkSchema, literal, qualified } from './internal/sql.ts';

/** What the link should be doing, as the target records it. */
export const DesiredState = { Running: 'running', Stopped: 'stopped', Promoted: 'promoted' } as const;
export type DesiredState = (typeof DesiredState)[keyof typeof DesiredState];

/** A table's replication state on the target. */
export const TableState = { Copying: 'copying', Replicating: 'replicating', Resync: 'resync' } as const;
export type TableState = (typeof TableState)[keyof typeof TableState];

/** The custom setting the applier sets on its sessions; the guard lets writes through only with it. */
export const APPLY_SETTING = 'slipway.apply';

/** The target's guard trigger function for a link. */
function guardFunctionSql(link: string, applierRole: string): string {
  const schema = linkSchema(link);
  return `CREATE OR REPLACE FUNCTION ${qualified(schema, 'guard')}() RETURNS trigger LANGUAGE plpgsql AS $slipway$
BEGIN
  IF pg_catalog.current_setting(${literal(APPLY_SETTING)}, true) = ${literal(link)}
     AND session_user = ${literal(applierRole)} THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'Cannot write to "%.%": it is a read-only replica of replication link "${link}"',
    TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'read_only_sql_transaction',
          HINT = 'Write to the primary; to make this database writable, promote it with \`slipway replication promote ${link}\`';
END
$slipway$`;
}

/** A table as the target's link schema records it. */
export interface ReplicaTable {
  readonly id: number;
  readonly schema: string;
  readonly name: string;
  readonly state: TableState;
  /** The table's own position when it differs from the link's (after a copy). */
  readonly position?: Snapshot;
  /** The shape both sides last agreed on. */
  readonly shape: TableShape;
  readonly rowsCopied: number | null;
  readonly copiedAt: Date | null;
  readonly rowsApplied: number;
  readonly changedAt: Date | null;
}

/** The target's record of the link. */
export interface ReplicaState {
  readonly link: string;
  readonly desired: DesiredState;
  readonly stoppedReason: string | null;
  readonly position: Snapshot;
  /** Source time before which every committed change is applied. */
  readonly syncedAt: Date | null;
  readonly appliedAt: Date | null;
  readonly batches: number;
  readonly rowsApplied: number;
  /** Rows per second over the last batches. */
  readonly rate: number;
  readonly lastError: string | null;
  readonly lastErrorAt: Date | null;
  readonly applier: string | null;
  readonly heartbeatAt: Date | null;
  readonly promotedAt: Date | null;
  readonly tables: readonly ReplicaTable[];
  readonly sequences: readonly SequenceInfo[];
}

/** The statements that install a link on its target, in one transaction. */
export function installTargetSql(
  link: string,
  options: {
    readonly tables: readonly (TableInfo & { readonly id: number })[];
    readonly sequences: readonly SequenceInfo[];
    readonly position: Snapshot;
    readonly applierRole: string;
  },
): string[] {
  const schema = linkSchema(link);
  const s = (name: string) => qualified(schema, name);
  const guard = triggerNames(link).guard;
  const statements = [
    `CREATE SCHEMA ${ident(schema)}`,
    `REVOKE ALL ON SCHEMA ${ident(schema)} FROM PUBLIC`,
    `CREATE TABLE ${s('state')} (
       singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
       link text NOT NULL, format integer NOT NULL,
       desired text NOT NULL DEFAULT 'running' CHECK (desired IN ('running', 'stopped', 'promoted')),
       stopped_reason text, position pg_snapshot NOT NULL, synced_at timestamptz, applied_at timestamptz,
       batches bigint NOT NULL DEFAULT 0, rows_applied bigint NOT NULL DEFAULT 0,
       rate double precision NOT NULL DEFAULT 0, last_error text, last_error_at timestamptz,
       applier text, heartbeat_at timestamptz, applier_role text NOT NULL, promoted_at timestamptz)`,
    `INSERT INTO ${s('state')} (link, format, position, applier_role)
     VALUES (${literal(link)}, ${CAPTURE_FORMAT}, ${literal(formatSnapshot(options.position))}, ${literal(options.applierRole)})`,
    `CREATE TABLE ${s('tables')} (
       id integer PRIMARY KEY, schema_name text NOT NULL, table_name text NOT NULL,
       state text NOT NULL CHECK (state IN ('copying', 'replicating', 'resync')),
       position pg_snapshot, shape jsonb NOT NULL, rows_copied bigint, copied_at timestamptz,
       rows_applied bigint NOT NULL DEFAULT 0, changed_at timestamptz)`,
    `CREATE TABLE ${s('sequences')} (schema_name text NOT NULL, sequence_name text NOT NULL,
       PRIMARY KEY (schema_name, sequence_name))`,
    `CREATE TABLE ${s('progress')} (table_id integer PRIMARY KEY, rows_done bigint NOT NULL,
       rows_total bigint, started_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)`,
    `CREATE TABLE ${s('requests')} (id bigserial PRIMARY KEY, kind text NOT NULL, args jsonb NOT NULL DEFAULT '{}',
       created_at timestamptz NOT NULL DEFAULT now(), started_at timestamptz, finished_at timestamptz,
       result jsonb, error text)`,
    guardFunctionSql(link, options.applierRole),
  ];
  for (const table of options.tables) {
    statements.push(
      `INSERT INTO ${s('tables')} (id, schema_name, table_name, state, shape)
       VALUES (${table.id}, ${literal(table.schema)}, ${literal(table.name)}, 'copying', ${literal(JSON.stringify(shapeOf(table)))})`,
      `CREATE TRIGGER ${ident(guard)} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${qualified(table.schema, table.name)}
       FOR EACH STATEMENT EXECUTE FUNCTION ${s('guard')}()`,
    );
  }
  for (const sequence of options.sequences) {
    statements.push(
      `INSERT INTO ${s('sequences')} VALUES (${literal(sequence.schema)}, ${literal(sequence.name)})`,
    );
  }
  return statements;
}

interface StateRow {
  link: string;
  format: number;
  desired: DesiredState;
  stopped_reason: string | null;
  position: string;
  synced_at: Date | null;
  applied_at: Date | null;
  batches: number;
  rows_applied: number;
  rate: number;
  last_error: string | null;
  last_error_at: Date | null;
  applier: string | null;
  heartbeat_at: Date | null;
  promoted_at: Date | null;
}

/**
 * Reads the link's state from the target.
 * @throws when the link is not installed there
 */
export async function readReplicaState(client: pg.Client, link: string): Promise<ReplicaState> {
  const schema = linkSchema(link);
  if (!(await linkSchemaExists(client, link))) {
    throw Object.assign(
      new Error(`The target has no replication link "${link}" (schema "${schema}" is missing)`),
      {
        code: 'SLIPWAY_NOT_INSTALLED',
      },
    );
  }
  const s = (name: string) => qualified(schema, name);
  const state = await client.query<StateRow>(
    `SELECT link, format, desired, stopped_reason, position::text AS position, synced_at, applied_at,
            batches::float8 AS batches, rows_applied::float8 AS rows_applied, rate, last_error, last_error_at,
            applier, heartbeat_at, promoted_at FROM ${s('state')}`,
  );
  const row = state.rows[0];
  if (!row || row.format !== CAPTURE_FORMAT) {
    throw new Error(`The target's replication link "${link}" was installed by another Slipway version`);
  }
  const tables = await client.query<{
    id: number;
    schema_name: string;
    table_name: string;
    state: TableState;
    position: string | null;
    shape: TableShape;
    rows_copied: string | null;
    copied_at: Date | null;
    rows_applied: string;
    changed_at: Date | null;
  }>(
    `SELECT id, schema_name, table_name, state, position::text AS position, shape, rows_copied::text,
            copied_at, rows_applied::text, changed_at FROM ${s('tables')} ORDER BY id`,
  );
  const sequences = await client.query<{ schema_name: string; sequence_name: string }>(
    `SELECT schema_name, sequence_name FROM ${s('sequences')} ORDER BY 1, 2`,
  );
  return {
    link: row.link,
    desired: row.desired,
    stoppedReason: row.stopped_reason,
    position: parseSnapshot(row.position),
    syncedAt: row.synced_at,
    appliedAt: row.applied_at,
    batches: Number(row.batches),
    rowsApplied: Number(row.rows_applied),
    rate: row.rate,
    lastError: row.last_error,
    lastErrorAt: row.last_error_at,
    applier: row.applier,
    heartbeatAt: row.heartbeat_at,
    promotedAt: row.promoted_at,
    tables: tables.rows.map((t) => ({
      id: t.id,
      schema: t.schema_name,
      name: t.table_name,
      state: t.state,
      ...(t.position ? { position: parseSnapshot(t.position) } : {}),
      shape: t.shape,
      rowsCopied: t.rows_copied === null ? null : Number(t.rows_copied),
      copiedAt: t.copied_at,
      rowsApplied: Number(t.rows_applied),
      changedAt: t.changed_at,
    })),
    sequences: sequences.rows.map((q) => ({ schema: q.schema_name, name: q.sequence_name })),
  };
}

/** Sets what the link should do (and why it stopped), clearing the reason when it runs again. */
export async function setDesiredState(
  client: pg.Client,
  link: string,
  desired: DesiredState,
  reason?: string,
): Promise<void> {
  await client.query(
    `UPDATE ${qualified(linkSchema(link), 'state')}
        SET desired = $1, stopped_reason = $2,
            last_error = CASE WHEN $1 = 'running' THEN NULL ELSE last_error END,
            last_error_at = CASE WHEN $1 = 'running' THEN NULL ELSE last_error_at END`,
    [desired, reason ?? null],
  );
}

/** Asks the applier to copy a table again. */
export async function requestResync(client: pg.Client, link: string, tableId: number): Promise<void> {
  await client.query(`UPDATE ${qualified(linkSchema(link), 'tables')} SET state = 'resync' WHERE id = $1`, [
    tableId,
  ]);
}

/**
 * Makes the replica writable: drops the guard triggers, moves every sequence at least past the
 * largest value its owning column holds, and records the promotion, in one transaction.
 */
export async function promoteReplica(client: pg.Client, link: string): Promise<{ sequences: number }> {
  const schema = linkSchema(link);
  const guard = triggerNames(link).guard;
  const state = await readReplicaState(client, link);
  await client.query('BEGIN');
  try {
    for (const table of state.tables) {
      await client.query(`DROP TRIGGER IF EXISTS ${ident(guard)} ON ${qualified(table.schema, table.name)}`);
    }
    const owned = await client.query<{ sequence: string; table: string; column: string }>(
      `SELECT format('%I.%I', sn.nspname, s.relname) AS sequence, format('%I.%I', tn.nspname, t.relname) AS table,
              quote_ident(a.attname) AS column
         FROM ${qualified(schema, 'sequences')} q
         JOIN pg_namespace sn ON sn.nspname = q.schema_name
         JOIN pg_class s ON s.relnamespace = sn.oid AND s.relname = q.sequence_name AND s.relkind = 'S'
         JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.deptype IN ('a', 'i')
                         AND d.refclassid = 'pg_class'::regclass
         JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid`,
    );
    for (const { sequence, table, column } of owned.rows) {
      // The replicated value may lag the source by one batch; never hand out a value the table holds.
      await client.query(
        `SELECT setval('${sequence.replaceAll("'", "''")}', greatest(
           (SELECT last_value FROM ${sequence}), (SELECT coalesce(max(${column})::bigint, 1) FROM ${table})))`,
      );
    }
    await client.query(
      `UPDATE ${qualified(schema, 'state')} SET desired = 'promoted', promoted_at = now(), stopped_reason = NULL`,
    );
    await client.query('COMMIT');
    return { sequences: owned.rows.length };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Removes everything the link installed on the target. */
export async function uninstallTarget(client: pg.Client, link: string): Promise<void> {
  if (!(await linkSchemaExists(client, link))) return;
  const guard = triggerNames(link).guard;
  const { rows } = await client.query<{ table: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS table FROM pg_trigger t
       JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE t.tgname = $1`,
    [guard],
  );
  await client.query('BEGIN');
  try {
    for (const { table } of rows) await client.query(`DROP TRIGGER IF EXISTS ${ident(guard)} ON ${table}`);
    await client.query(`DROP SCHEMA IF EXISTS ${ident(linkSchema(link))} CASCADE`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
