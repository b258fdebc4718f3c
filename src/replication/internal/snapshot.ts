/**
 * PostgreSQL snapshots (`pg_snapshot`, "xmin:xmax:xip1,xip2") as the replication position: a batch is
 * every transaction visible in the new snapshot and not in the old one.
 */

/** A parsed pg_snapshot. Transaction ids are 64-bit (xid8), kept as bigint. */
export interface Snapshot {
  readonly xmin: bigint;
  readonly xmax: bigint;
  /** Transactions in progress when the snapshot was taken (xmin ≤ id < xmax). */
  readonly xip: readonly bigint[];
}

/** Parses "xmin:xmax:xip,..." as printed by pg_current_snapshot()::text. */
export function parseSnapshot(text: string): Snapshot {
  const match = /^(\d+):(\d+):([\d,]*)$/.exec(text.trim());
  if (!match) throw new Error(`Not a pg_snapshot: "${text}"`);
  return {
    xmin: BigInt(match[1]!),
    xmax: BigInt(match[2]!),
    xip: match[3] ? match[3].split(',').map((x) => BigInt(x)) : [],
  };
}

/** The text form PostgreSQL reads back as pg_snapshot. */
export function formatSnapshot(snapshot: Snapshot): string {
  return `${snapshot.xmin}:${snapshot.xmax}:${snapshot.xip.join(',')}`;
}

/** Whether transaction `txid` had committed (or aborted) as seen by `snapshot`. */
export function isVisibleIn(txid: bigint, snapshot: Snapshot): boolean {
  if (txid < snapshot.xmin) return true;
  if (txid >= snapshot.xmax) return false;
  return !snapshot.xip.includes(txid);
}

/** Whether every transaction finished in `earlier` is also finished in `later`. */
export function isCoveredBy(earlier: Snapshot, later: Snapshot): boolean {
  if (later.xmin >= earlier.xmax) return true;
  if (later.xmax < earlier.xmax) return false;
  // Every id below earlier.xmax that earlier saw as finished must not be in progress in later.
  return later.xip.every((id) => id >= earlier.xmax || earlier.xip.includes(id));
}

/**
 * SQL selecting log rows written by transactions that `base` did not see: ids at or above its xmax,
 * and the ids it listed as in progress. Rows of still-running transactions are invisible to the reader
 * anyway (MVCC), so no upper bound is needed. Both arms use the index on `txid`.
 */
export function notVisibleFilter(base: Snapshot, column = 'txid'): string {
  const above = `${column} >= '${base.xmax}'::xid8`;
  if (base.xip.length === 0) return above;
  return `(${above} OR ${column} = ANY('{${base.xip.join(',')}}'::xid8[]))`;
}
