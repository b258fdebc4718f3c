/**
 * Installing and removing a link on its two databases, and schema changes through the link. These
 * work from the two connection strings alone, so the control plane, the CLI and tests share them.
 */

import { prepareApplySession } from './applier.ts';
import {
  captureFunctionSql,
  installSourceSql,
  linkSchemaExists,
  logTable,
  logTableSql,
  readSourceConfig,
  uninstallSource,
} from './capture.ts';
import {
  describeShapeChange,
  resolveTables,
  type SequenceInfo,
  sequencesFor,
  shapeOf,
  type TableInfo,
  tableName,
  tablesByName,
  tablesByOid,
} from './catalog.ts';
import {
  LinkDatabaseUnavailableError,
  LinkExistsError,
  LinkStateError,
  TablesNotReplicableError,
} from './errors.ts';
import { openConnection, type ReplicationConnection, type Side } from './internal/connection.ts';
import { parseSnapshot } from './internal/snapshot.ts';
import { linkSchema, qualified } from './internal/sql.ts';
import { installTargetSql, readReplicaState, setDesiredState, uninstallTarget } from './replica.ts';

/** Which tables a link replicates: named tables, or every table of a schema. */
export type TableSelection = { readonly tables: readonly string[] } | { readonly schema: string };

/** Opens one side of a link, turning a failure into an error that names the side and hides the DSN. */
export async function connectSide(
  link: string,
  side: Side,
  dsn: string,
  options: { purpose?: string; networkTimeoutMs?: number } = {},
): Promise<ReplicationConnection> {
  try {
    return await openConnection(dsn, {
      side,
      applicationName: `slipway-${options.purpose ?? 'control'}:${link}`,
      ...(options.networkTimeoutMs ? { networkTimeoutMs: options.networkTimeoutMs } : {}),
    });
  } catch (error) {
    const reason = (error as Error).message.replace(/^Cannot connect to the (source|target): /, '');
    throw new LinkDatabaseUnavailableError(link, side, reason);
  }
}

/** Runs `work` with both sides open, closing them afterwards. */
export async function withBothSides<T>(
  link: string,
  dsns: { readonly source: string; readonly target: string },
  work: (source: ReplicationConnection, target: ReplicationConnection) => Promise<T>,
): Promise<T> {
  const source = await connectSide(link, 'source', dsns.source);
  try {
    const target = await connectSide(link, 'target', dsns.target);
    try {
      return await work(source, target);
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

/** What installing a link set up. */
export interface InstalledLink {
  readonly tables: readonly string[];
  readonly sequences: readonly string[];
}

function quoteList(names: readonly string[]): string {
  return names.map((n) => `"${n}"`).join(', ');
}

async function checkTarget(
  link: string,
  target: ReplicationConnection,
  tables: readonly TableInfo[],
  sequences: readonly SequenceInfo[],
): Promise<void> {
  const names = tables.map(tableName);
  const found = await tablesByName(target.client, names);
  const missing = names.filter((n) => !found.has(n));
  if (missing.length > 0) {
    throw new TablesNotReplicableError(
      `Cannot create replication link "${link}": the target has no table ${quoteList(missing)}`,
      'Create the schema on the target first, for example `pg_dump --schema-only` from the source into the target, then try again',
      { missing },
    );
  }
  for (const table of tables) {
    const difference = describeShapeChange(shapeOf(table), shapeOf(found.get(tableName(table))!));
    if (difference) {
      throw new TablesNotReplicableError(
        `Cannot create replication link "${link}": table "${tableName(table)}" differs on the target: ${difference}`,
        'Make the target table match the source (same columns, types and primary key), then try again',
      );
    }
  }
  if (sequences.length > 0) {
    const { rows } = await target.client.query<{ name: string }>(
      `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'S' AND (n.nspname || '.' || c.relname) = ANY($1::text[])`,
      [sequences.map((s) => `${s.schema}.${s.name}`)],
    );
    const have = new Set(rows.map((r) => r.name));
    const absent = sequences.map((s) => `${s.schema}.${s.name}`).filter((s) => !have.has(s));
    if (absent.length > 0) {
      throw new TablesNotReplicableError(
        `Cannot create replication link "${link}": the target has no sequence ${quoteList(absent)}`,
        'Create the schema on the target first (with its sequences), then try again',
        { missing: absent },
      );
    }
  }
}

/**
 * Installs a link: capture on the source (triggers and log), the link's state and the guard triggers
 * on the target. Every table starts in state "copying"; the applier copies them. Nothing is left
 * behind when a step fails.
 * @throws TablesNotReplicableError, LinkExistsError, LinkDatabaseUnavailableError
 */
export async function installLink(
  link: string,
  dsns: { readonly source: string; readonly target: string },
  selection: TableSelection,
): Promise<InstalledLink> {
  return withBothSides(link, dsns, async (source, target) => {
    if (await linkSchemaExists(source.client, link)) {
      throw new LinkExistsError(link, `on the source database (schema "${linkSchema(link)}")`);
    }
    if (await linkSchemaExists(target.client, link)) {
      throw new LinkExistsError(link, `on the target database (schema "${linkSchema(link)}")`);
    }
    const resolved = await resolveTables(source.client, selection);
    if (resolved.missing.length > 0) {
      throw new TablesNotReplicableError(
        `Cannot create replication link "${link}": the source has no table ${quoteList(resolved.missing)}`,
        'Name tables as SCHEMA.TABLE (or TABLE for the public schema), as they exist on the source',
        { missing: resolved.missing },
      );
    }
    if ('tables' in selection && resolved.unusable.length > 0) {
      const first = resolved.unusable[0]!;
      throw new TablesNotReplicableError(
        `Cannot create replication link "${link}": table "${first.table}" cannot be replicated: ${first.reason}`,
        'Add a primary key to the table, or leave it out of --tables',
        { unusable: resolved.unusable },
      );
    }
    if (resolved.tables.length === 0) {
      throw new TablesNotReplicableError(
        `Cannot create replication link "${link}": no table to replicate was found`,
        'Name tables with --tables, or a schema that has tables with primary keys with --schema',
        { unusable: resolved.unusable },
      );
    }
    const tables = resolved.tables;
    const sequences = await sequencesFor(
      source.client,
      tables.map((t) => t.oid),
      'schema' in selection ? selection.schema : undefined,
    );
    await checkTarget(link, target, tables, sequences);

    await source.client.query('BEGIN');
    try {
      for (const statement of installSourceSql(link, tables, sequences)) await source.client.query(statement);
      await source.client.query('COMMIT');
    } catch (error) {
      await source.client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    try {
      // Taken after the triggers committed: every later change is captured.
      const snapshot = await source.client.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s');
      const role = await target.client.query<{ role: string }>('SELECT session_user AS role');
      await target.client.query('BEGIN');
      const statements = installTargetSql(link, {
        tables: tables.map((t, i) => ({ ...t, id: i + 1 })),
        sequences,
        position: parseSnapshot(snapshot.rows[0]!.s),
        applierRole: role.rows[0]!.role,
      });
      for (const statement of statements) await target.client.query(statement);
      await target.client.query('COMMIT');
    } catch (error) {
      await target.client.query('ROLLBACK').catch(() => undefined);
      await uninstallSource(source.client, link).catch(() => undefined);
      throw error;
    }
    return {
      tables: tables.map(tableName),
      sequences: sequences.map((s) => `${s.schema}.${s.name}`),
    };
  });
}

/** Removes a link from one side; a side that cannot be reached is reported, not fatal, when `force`. */
export async function uninstallLink(
  link: string,
  dsns: { readonly source: string; readonly target: string },
  options: { force?: boolean } = {},
): Promise<{ leftBehind: Side[] }> {
  const leftBehind: Side[] = [];
  for (const side of ['source', 'target'] as const) {
    try {
      const connection = await connectSide(link, side, dsns[side]);
      try {
        if (side === 'source') await uninstallSource(connection.client, link);
        else await uninstallTarget(connection.client, link);
      } finally {
        await connection.close();
      }
    } catch (error) {
      if (!options.force) throw error;
      leftBehind.push(side);
    }
  }
  return { leftBehind };
}

/** Options for a schema change through the link. */
export interface DdlOptions {
  /** The source already has the change (made outside the link): apply it on the target only. */
  readonly targetOnly?: boolean;
}

/**
 * Applies a schema change on both sides at a consistent point: it runs on the source in one
 * transaction that also records it in the link's event log, and the applier runs it on the target in
 * the batch that contains that transaction, before any row in the new shape. The change is first tried
 * on the target (and rolled back) so a script that cannot work there is refused before the source
 * changes. A changed key re-creates the table's log and copies the table again. The link runs again
 * afterwards.
 */
export async function applyDdl(
  link: string,
  dsns: { readonly source: string; readonly target: string },
  script: string,
  options: DdlOptions = {},
): Promise<{ tablesRecopied: readonly string[] }> {
  if (script.trim() === '') {
    throw new TablesNotReplicableError(
      'Cannot apply an empty schema change',
      'Give a file with SQL statements',
    );
  }
  return withBothSides(link, dsns, async (source, target) => {
    const replica = await readReplicaState(target.client, link);
    if (replica.desired === 'promoted') {
      throw new LinkStateError(
        `Cannot change the schema through replication link "${link}": the replica was promoted`,
        'Change the new primary directly, or re-link in the other direction first',
      );
    }
    const copying = replica.tables
      .filter((t) => t.state !== 'replicating')
      .map((t) => `${t.schema}.${t.name}`);
    if (copying.length > 0) {
      throw new LinkStateError(
        `Cannot change the schema through replication link "${link}" while tables are being copied: ${quoteList(copying)}`,
        'Wait until `slipway replication status` shows every table replicating, then try again',
      );
    }
    await prepareApplySession(target, link);
    await target.client.query('BEGIN');
    try {
      await target.client.query(script);
    } catch (error) {
      throw new TablesNotReplicableError(
        `Cannot apply the schema change through replication link "${link}": it fails on the target: ${(error as Error).message}`,
        'Fix the script so that it works on the replica as it is now; nothing was changed on either side',
      );
    } finally {
      await target.client.query('ROLLBACK').catch(() => undefined);
    }

    const config = await readSourceConfig(source.client, link);
    const schema = linkSchema(link);
    const recopied: string[] = [];
    await source.client.query('BEGIN');
    try {
      if (!options.targetOnly) {
        try {
          await source.client.query(script);
        } catch (error) {
          throw new TablesNotReplicableError(
            `Cannot apply the schema change through replication link "${link}": it fails on the source: ${(error as Error).message}`,
            'Fix the script; nothing was changed on either side. If the source already has the change, use --target-only',
          );
        }
      }
      const now = await tablesByOid(
        source.client,
        config.tables.map((t) => t.oid),
      );
      for (const table of config.tables) {
        const info = now.get(table.oid);
        if (!info || info.key.join(',') === table.key.join(',')) continue;
        // The key changed: the log must record the new key, and the table is copied again.
        for (const generation of [0, 1]) {
          await source.client.query(`DROP TABLE ${logTable(link, table.id, generation)}`);
          for (const statement of logTableSql(link, { id: table.id, keyTypes: info.keyTypes }, generation))
            await source.client.query(statement);
        }
        const updated = { ...table, key: info.key, keyTypes: info.keyTypes };
        await source.client.query(captureFunctionSql(link, updated, config.generation));
        await source.client.query(
          `UPDATE ${qualified(schema, 'tables')} SET key_columns = $1, key_types = $2 WHERE id = $3`,
          [info.key, info.keyTypes, table.id],
        );
        await source.client.query(
          `INSERT INTO ${qualified(schema, 'events')} (kind, table_id) VALUES ('resync', $1)`,
          [table.id],
        );
        recopied.push(tableName(info));
      }
      await source.client.query(
        `INSERT INTO ${qualified(schema, 'events')} (kind, payload) VALUES ('ddl', $1)`,
        [script],
      );
      await source.client.query('COMMIT');
    } catch (error) {
      await source.client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    // A link the schema change had stopped runs again; one stopped on purpose stays stopped.
    if (replica.desired === 'stopped' && replica.stoppedReason)
      await setDesiredState(target.client, link, 'running');
    return { tablesRecopied: recopied };
  });
}
