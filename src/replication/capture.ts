/**
 * Capture on the source: per replicated table, a PL/pgSQL row trigger that records the key of every
 * row a transaction inserts, updates (old and new key when the key changes) or deletes, and a
 * statement trigger that records TRUNCATE. Only keys and the writing transaction's id are logged:
 * the applier reads each changed row's state as of its batch snapshot, so the log stays small and
 * the trigger cheap.
 *
 * Each table has two log tables ("generations"); the trigger writes to the current one, and the
 * applier switches generations and TRUNCATEs the idle one once everything in it is applied — no
 * DELETE, no dead rows, no vacuum debt on the primary.
 */
import type pg from 'pg';
import type { SequenceInfo, TableInfo } from './catalog.ts';
import { isVisibleIn, type Snapshot } from './internal/snapshot.ts';
import { ident, linkSchema, literal, qualified } from './internal/sql.ts';

/** The version of the objects the engine installs; refused when it does not match. */
export const CAPTURE_FORMAT = 3;

/** A replicated table as the source's link schema records it. */
export interface CapturedTable {
  readonly id: number;
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  readonly key: readonly string[];
  readonly keyTypes: readonly string[];
}

/** The log table of one table and generation. */
export function logTable(link: string, tableId: number, generation: number): string {
  return qualified(linkSchema(link), `log_${tableId}_${generation}`);
}

/** The trigger names the link puts on replicated tables. */
export function triggerNames(link: string): { capture: string; truncate: string; guard: string } {
  return {
    // BEFORE triggers fire in name order: this name sorts after any ordinary one, so the capture
    // sees the key as the table's other BEFORE triggers leave it.
    capture: `~slipway_${link}_capture`,
    truncate: `_slipway_${link}_truncate`,
    guard: `_slipway_${link}_guard`,
  };
}

function keyColumnsOfLog(table: { key: readonly string[] }): string[] {
  return table.key.map((_, i) => `k${i + 1}`);
}

/**
 * The row trigger function of a table, writing to `generation`'s log. Each row records the key and
 * what happened to it: "i" inserted, "u" updated in place, "d" deleted (a key update is the old key
 * deleted and the new one inserted). A key with only "u" in a batch existed throughout, one with only
 * "i" did not exist before it — or existed unchanged, when an INSERT … ON CONFLICT DO NOTHING met it
 * (a BEFORE trigger fires before the conflict is found): the applier inserts those with ON CONFLICT DO
 * NOTHING, and updates the others, without probing the replica.
 *
 * A BEFORE trigger costs less than an AFTER one (no queued event, no re-fetched row); it fires last
 * among the table's BEFORE triggers (see `triggerNames`).
 */
export function captureFunctionSql(link: string, table: CapturedTable, generation: number): string {
  const schema = linkSchema(link);
  const log = logTable(link, table.id, generation);
  const columns = ['op', ...keyColumnsOfLog(table)].join(', ');
  const values = (op: string, row: 'NEW' | 'OLD') =>
    [`'${op}'`, ...table.key.map((k) => `${row}.${ident(k)}`)].join(', ');
  const keyChanged = table.key.map((k) => `NEW.${ident(k)} IS DISTINCT FROM OLD.${ident(k)}`).join(' OR ');
  return `CREATE OR REPLACE FUNCTION ${qualified(schema, `capture_${table.id}`)}() RETURNS trigger
LANGUAGE plpgsql AS $slipway$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF ${keyChanged} THEN
      INSERT INTO ${log} (${columns}) VALUES (${values('d', 'OLD')}), (${values('i', 'NEW')});
    ELSE
      INSERT INTO ${log} (${columns}) VALUES (${values('u', 'NEW')});
    END IF;
    RETURN NEW;
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO ${log} (${columns}) VALUES (${values('i', 'NEW')});
    RETURN NEW;
  END IF;
  INSERT INTO ${log} (${columns}) VALUES (${values('d', 'OLD')});
  RETURN OLD;
END
$slipway$`;
}

/** The statements creating one log table (its key columns follow the table's key). */
export function logTableSql(
  link: string,
  table: { readonly id: number; readonly keyTypes: readonly string[] },
  generation: number,
): string[] {
  const log = logTable(link, table.id, generation);
  const keyDefs = table.keyTypes.map((type, i) => `k${i + 1} ${type} NOT NULL`).join(', ');
  return [
    // No autovacuum: the table is emptied by TRUNCATE, never by DELETE.
    `CREATE TABLE ${log} (txid xid8 NOT NULL DEFAULT pg_current_xact_id(), op "char" NOT NULL, ${keyDefs})
       WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false)`,
    `CREATE INDEX ${ident(`log_${table.id}_${generation}_txid`)} ON ${log} (txid)`,
    // Application roles write through the trigger, which runs as them. A forged key only makes the
    // applier re-read that row's true state, so INSERT for everyone is harmless.
    `GRANT INSERT ON ${log} TO PUBLIC`,
  ];
}

function tableObjectsSql(link: string, table: CapturedTable): string[] {
  const schema = linkSchema(link);
  const target = qualified(table.schema, table.name);
  const names = triggerNames(link);
  const statements: string[] = [];
  for (const generation of [0, 1]) statements.push(...logTableSql(link, table, generation));
  statements.push(
    captureFunctionSql(link, table, 0),
    `CREATE FUNCTION ${qualified(schema, `truncate_${table.id}`)}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $slipway$
BEGIN
  INSERT INTO ${qualified(schema, 'events')} (kind, table_id) VALUES ('truncate', ${table.id});
  RETURN NULL;
END
$slipway$`,
    `CREATE TRIGGER ${ident(names.capture)} BEFORE INSERT OR UPDATE OR DELETE ON ${target} FOR EACH ROW EXECUTE FUNCTION ${qualified(schema, `capture_${table.id}`)}()`,
    `CREATE TRIGGER ${ident(names.truncate)} AFTER TRUNCATE ON ${target} FOR EACH STATEMENT EXECUTE FUNCTION ${qualified(schema, `truncate_${table.id}`)}()`,
    `INSERT INTO ${qualified(schema, 'tables')} (id, relid, schema_name, table_name, key_columns, key_types)
     VALUES (${table.id}, ${table.oid}, ${literal(table.schema)}, ${literal(table.name)},
             ARRAY[${table.key.map(literal).join(', ')}]::text[], ARRAY[${table.keyTypes.map(literal).join(', ')}]::text[])`,
  );
  return statements;
}

/** The objects a link installs on its source, in one transaction. */
export function installSourceSql(
  link: string,
  tables: readonly TableInfo[],
  sequences: readonly SequenceInfo[],
): string[] {
  const schema = linkSchema(link);
  const s = (name: string) => qualified(schema, name);
  const statements = [
    `CREATE SCHEMA ${ident(schema)}`,
    `REVOKE ALL ON SCHEMA ${ident(schema)} FROM PUBLIC`,
    `GRANT USAGE ON SCHEMA ${ident(schema)} TO PUBLIC`,
    `CREATE TABLE ${s('link')} (
       singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
       link text NOT NULL, format integer NOT NULL, generation integer NOT NULL DEFAULT 0,
       rotated_at timestamptz NOT NULL DEFAULT now(), installed_at timestamptz NOT NULL DEFAULT now())`,
    `INSERT INTO ${s('link')} (link, format) VALUES (${literal(link)}, ${CAPTURE_FORMAT})`,
    `CREATE TABLE ${s('tables')} (id integer PRIMARY KEY, relid oid NOT NULL UNIQUE, schema_name text NOT NULL,
       table_name text NOT NULL, key_columns text[] NOT NULL, key_types text[] NOT NULL)`,
    `CREATE TABLE ${s('sequences')} (schema_name text NOT NULL, sequence_name text NOT NULL,
       PRIMARY KEY (schema_name, sequence_name))`,
    `CREATE TABLE ${s('events')} (seq bigserial PRIMARY KEY, txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
       kind text NOT NULL, table_id integer, payload text, created_at timestamptz NOT NULL DEFAULT now())`,
    `CREATE INDEX events_txid ON ${s('events')} (txid)`,
  ];
  tables.forEach((table, i) => {
    statements.push(...tableObjectsSql(link, { ...table, id: i + 1 }));
  });
  for (const sequence of sequences) {
    statements.push(
      `INSERT INTO ${s('sequences')} VALUES (${literal(sequence.schema)}, ${literal(sequence.name)})`,
    );
  }
  return statements;
}

/** Whether the link's schema exists on a database. */
export async function linkSchemaExists(client: pg.Client, link: string): Promise<boolean> {
  const { rows } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [linkSchema(link)]);
  return rows.length > 0;
}

/** What the source's link schema says. */
export interface SourceConfig {
  readonly link: string;
  readonly generation: number;
  readonly rotatedAt: Date;
  readonly tables: readonly CapturedTable[];
  readonly sequences: readonly SequenceInfo[];
}

/**
 * Reads the link's capture configuration from the source.
 * @throws when the link is not installed there or was installed by another format
 */
export async function readSourceConfig(client: pg.Client, link: string): Promise<SourceConfig> {
  const schema = linkSchema(link);
  if (!(await linkSchemaExists(client, link))) {
    throw Object.assign(
      new Error(`The source has no replication link "${link}" (schema "${schema}" is missing)`),
      {
        code: 'SLIPWAY_NOT_INSTALLED',
      },
    );
  }
  const s = (name: string) => qualified(schema, name);
  const config = await client.query<{ format: number; generation: number; rotated_at: Date }>(
    `SELECT format, generation, rotated_at FROM ${s('link')}`,
  );
  const row = config.rows[0];
  if (!row || row.format !== CAPTURE_FORMAT) {
    throw new Error(`The source's replication link "${link}" was installed by another Slipway version`);
  }
  const tables = await client.query<{
    id: number;
    relid: number;
    schema_name: string;
    table_name: string;
    key_columns: string[];
    key_types: string[];
  }>(
    `SELECT id, relid::int AS relid, schema_name, table_name, key_columns, key_types FROM ${s('tables')} ORDER BY id`,
  );
  const sequences = await client.query<{ schema_name: string; sequence_name: string }>(
    `SELECT schema_name, sequence_name FROM ${s('sequences')} ORDER BY 1, 2`,
  );
  return {
    link,
    generation: row.generation,
    rotatedAt: row.rotated_at,
    tables: tables.rows.map((t) => ({
      id: t.id,
      oid: t.relid,
      schema: t.schema_name,
      name: t.table_name,
      key: t.key_columns,
      keyTypes: t.key_types,
    })),
    sequences: sequences.rows.map((q) => ({ schema: q.schema_name, name: q.sequence_name })),
  };
}

/** Removes everything the link installed on the source (triggers first, then the schema). */
export async function uninstallSource(client: pg.Client, link: string): Promise<void> {
  if (!(await linkSchemaExists(client, link))) return;
  const names = triggerNames(link);
  const { rows } = await client.query<{ table: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS table FROM pg_trigger t
       JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE t.tgname IN ($1, $2)`,
    [names.capture, names.truncate],
  );
  await client.query('BEGIN');
  try {
    for (const { table } of rows) {
      await client.query(`DROP TRIGGER IF EXISTS ${ident(names.capture)} ON ${table}`);
      await client.query(`DROP TRIGGER IF EXISTS ${ident(names.truncate)} ON ${table}`);
    }
    await client.query(`DROP SCHEMA IF EXISTS ${ident(linkSchema(link))} CASCADE`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** What one maintenance pass on the source did. */
export interface MaintenanceResult {
  readonly truncated: number;
  readonly switched: boolean;
  readonly eventsTrimmed: number;
}

/**
 * Trims the capture log: TRUNCATEs each table's idle generation once every row in it is applied
 * (as of `applied(tableId)`), and switches the trigger to the other generation once the idle one is
 * empty everywhere and `rotateAfterMs` has passed. Never waits for a lock: a table that a writer
 * still holds is tried again next time.
 */
export async function maintainLog(
  client: pg.Client,
  config: { link: string; generation: number; rotatedAt: Date; tables: readonly CapturedTable[] },
  applied: (tableId: number) => Snapshot | undefined,
  options: {
    rotateAfterMs: number;
    eventsApplied?: Snapshot;
    /** Runs once before the first trim: makes the applied positions durable on the target. */
    beforeTrim?: () => Promise<void>;
  },
): Promise<MaintenanceResult & { generation: number; rotatedAt: Date }> {
  let durable = false;
  const beforeTrim = async () => {
    if (durable) return;
    await options.beforeTrim?.();
    durable = true;
  };
  const idle = 1 - config.generation;
  let truncated = 0;
  let allIdleEmpty = true;
  for (const table of config.tables) {
    const log = logTable(config.link, table.id, idle);
    const { rows } = await client.query(`SELECT 1 FROM ${log} LIMIT 1`);
    if (rows.length === 0) continue;
    const position = applied(table.id);
    if (!position) {
      allIdleEmpty = false;
      continue;
    }
    await beforeTrim();
    await client.query('BEGIN');
    try {
      // NOWAIT: a writer still holding the idle log (an old cached trigger plan) makes us skip, not wait.
      await client.query(`LOCK TABLE ${log} IN ACCESS EXCLUSIVE MODE NOWAIT`);
      const pending = await client.query(
        `SELECT 1 FROM ${log} WHERE NOT pg_visible_in_snapshot(txid, $1::pg_snapshot) LIMIT 1`,
        [`${position.xmin}:${position.xmax}:${position.xip.join(',')}`],
      );
      if (pending.rows.length === 0) {
        await client.query(`TRUNCATE ${log}`);
        truncated += 1;
      } else {
        allIdleEmpty = false;
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      if ((error as { code?: string }).code !== '55P03') throw error;
      allIdleEmpty = false;
    }
  }
  let eventsTrimmed = 0;
  if (options.eventsApplied) {
    const events = await client.query<{ seq: string; txid: string; table_id: number | null }>(
      `SELECT seq::text, txid::text, table_id FROM ${qualified(linkSchema(config.link), 'events')} ORDER BY seq LIMIT 1000`,
    );
    const done = events.rows
      .filter((e) => {
        const txid = BigInt(e.txid);
        if (!isVisibleIn(txid, options.eventsApplied!)) return false;
        const own = e.table_id === null ? undefined : applied(e.table_id);
        return e.table_id === null || (own !== undefined && isVisibleIn(txid, own));
      })
      .map((e) => e.seq);
    if (done.length > 0) {
      await beforeTrim();
      const result = await client.query(
        `DELETE FROM ${qualified(linkSchema(config.link), 'events')} WHERE seq = ANY($1::bigint[])`,
        [done],
      );
      eventsTrimmed = result.rowCount ?? 0;
    }
  }
  const due = Date.now() - config.rotatedAt.getTime() >= options.rotateAfterMs;
  if (!(allIdleEmpty && due)) {
    return {
      truncated,
      switched: false,
      eventsTrimmed,
      generation: config.generation,
      rotatedAt: config.rotatedAt,
    };
  }
  const schema = linkSchema(config.link);
  await client.query('BEGIN');
  try {
    for (const table of config.tables) await client.query(captureFunctionSql(config.link, table, idle));
    const { rows } = await client.query<{ rotated_at: Date }>(
      `UPDATE ${qualified(schema, 'link')} SET generation = ${idle}, rotated_at = now() RETURNING rotated_at`,
    );
    await client.query('COMMIT');
    return { truncated, switched: true, eventsTrimmed, generation: idle, rotatedAt: rows[0]!.rotated_at };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
