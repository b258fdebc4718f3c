/**
 * A link's status as both sides tell it: position and lag, changes waiting on the source, throughput,
 * the last error, and each table's state and copy progress.
 */
import type pg from 'pg';
import { logTable } from './capture.ts';
import { notVisibleFilter, type Snapshot } from './internal/snapshot.ts';
import { linkSchema, qualified } from './internal/sql.ts';
import { type ReplicaState, readReplicaState } from './replica.ts';

/**
 * Counts the captured changes the target has not applied: log rows of transactions the table's (or
 * the link's) position does not cover, and the schema changes, TRUNCATEs and resyncs recorded in the
 * link's event log that it does not cover either (a schema change alone writes no log row, yet the
 * replica does not have it). Rows of uncommitted transactions are not counted.
 */
export async function pendingChanges(
  source: pg.Client,
  link: string,
  tables: readonly { readonly id: number; readonly position?: Snapshot | undefined }[],
  position: Snapshot,
): Promise<number> {
  const events = qualified(linkSchema(link), 'events');
  const parts = [`(SELECT count(*) FROM ${events} WHERE kind = 'ddl' AND ${notVisibleFilter(position)})`];
  for (const table of tables) {
    const filter = notVisibleFilter(table.position ?? position);
    parts.push(
      ...[0, 1].map((g) => `(SELECT count(*) FROM ${logTable(link, table.id, g)} WHERE ${filter})`),
      `(SELECT count(*) FROM ${events} WHERE kind <> 'ddl' AND table_id = ${table.id} AND ${filter})`,
    );
  }
  const { rows } = await source.query<{ pending: string }>(`SELECT (${parts.join(' + ')})::text AS pending`);
  return Number(rows[0]?.pending ?? 0);
}

/** One table's state. */
export interface TableStatus {
  readonly table: string;
  readonly state: 'copying' | 'replicating' | 'resync';
  readonly rowsApplied: number;
  readonly rowsCopied: number | null;
  readonly copiedAt: string | null;
  readonly changedAt: string | null;
  /** While copying: rows done and the estimated total. */
  readonly progress: { readonly rowsDone: number; readonly rowsTotal: number | null } | null;
}

/** What both sides say about a link. */
export interface LinkStatus {
  readonly desired: 'running' | 'stopped' | 'promoted';
  readonly stoppedReason: string | null;
  readonly position: string;
  /** Seconds the replica trails the source: 0 when nothing is waiting. */
  readonly lagSeconds: number;
  readonly pendingChanges: number;
  readonly syncedAt: string | null;
  readonly appliedAt: string | null;
  readonly batches: number;
  readonly rowsApplied: number;
  readonly rowsPerSecond: number;
  readonly lastError: string | null;
  readonly lastErrorAt: string | null;
  /** Where the applier runs ("host:pid") and when it last reported. */
  readonly applier: string | null;
  readonly heartbeatAt: string | null;
  readonly applierRunning: boolean;
  readonly promotedAt: string | null;
  readonly tables: readonly TableStatus[];
}

/** An applier that has not reported for this long is considered not running. */
export const APPLIER_SILENT_AFTER_MS = 15_000;

function iso(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}

/**
 * Reads a link's status. `source` may be undefined when the source cannot be reached: pending and lag
 * are then estimated from the target alone.
 */
export async function readLinkStatus(
  source: pg.Client | undefined,
  target: pg.Client,
  link: string,
): Promise<LinkStatus> {
  const state: ReplicaState = await readReplicaState(target, link);
  const progress = await target.query<{ table_id: number; rows_done: string; rows_total: string | null }>(
    `SELECT table_id, rows_done::text, rows_total::text FROM ${qualified(linkSchema(link), 'progress')}`,
  );
  const targetNow = await target.query<{ now: Date; locked: boolean }>(
    `SELECT now() AS now, EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
       AND objid = hashtext($1)::oid) AS locked`,
    [`slipway.replication.${link}`],
  );
  let pending = 0;
  let sourceNow: Date = targetNow.rows[0]!.now;
  if (source && state.desired !== 'promoted') {
    pending = await pendingChanges(source, link, state.tables, state.position);
    sourceNow = (await source.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]!.now;
  }
  const synced = state.syncedAt?.getTime() ?? state.appliedAt?.getTime();
  const lagSeconds =
    pending === 0 || synced === undefined ? 0 : Math.max(0, (sourceNow.getTime() - synced) / 1000);
  const heartbeat = state.heartbeatAt?.getTime() ?? 0;
  const applierRunning =
    targetNow.rows[0]!.locked && targetNow.rows[0]!.now.getTime() - heartbeat < APPLIER_SILENT_AFTER_MS;
  return {
    desired: state.desired,
    stoppedReason: state.stoppedReason,
    position: `${state.position.xmin}:${state.position.xmax}:${state.position.xip.join(',')}`,
    lagSeconds: Math.round(lagSeconds * 1000) / 1000,
    pendingChanges: pending,
    syncedAt: iso(state.syncedAt),
    appliedAt: iso(state.appliedAt),
    batches: state.batches,
    rowsApplied: state.rowsApplied,
    rowsPerSecond: state.rate,
    lastError: state.lastError,
    lastErrorAt: iso(state.lastErrorAt),
    applier: state.applier,
    heartbeatAt: iso(state.heartbeatAt),
    applierRunning,
    promotedAt: iso(state.promotedAt),
    tables: state.tables.map((t) => {
      const p = progress.rows.find((r) => r.table_id === t.id);
      return {
        table: `${t.schema}.${t.name}`,
        state: t.state,
        rowsApplied: t.rowsApplied,
        rowsCopied: t.rowsCopied,
        copiedAt: iso(t.copiedAt),
        changedAt: iso(t.changedAt),
        progress:
          p && t.state !== 'replicating'
            ? {
                rowsDone: Number(p.rows_done),
                rowsTotal: p.rows_total === null ? null : Number(p.rows_total),
              }
            : null,
      };
    }),
  };
}
