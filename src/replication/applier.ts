/**
 * The applier: a long-running loop next to the replica that pulls batches from the source and applies
 * them on the target. It needs only the two connection strings (everything else lives in the link's
 * schemas on both sides), holds an advisory lock on the target so one applier runs per link, copies
 * tables that need it beside the batches, answers requests (verify, promote), trims the capture log,
 * and reconnects with backoff when either side goes away.
 */
import { hostname } from 'node:os';
import type pg from 'pg';
import {
  type ApplyTable,
  applyBatch,
  type BatchContext,
  type BatchResult,
  LinkStoppedError,
  SchemaChangeError,
} from './batch.ts';
import { maintainLog, readSourceConfig, type SourceConfig } from './capture.ts';
import { cascadingForeignKeys, type TableInfo, tableName, tablesByOid } from './catalog.ts';
import { type CopyProgress, type CopyResult, copyTable, type ProgressWriter } from './copy-task.ts';
import {
  describeConnectionFailure,
  isConnectionError,
  openConnection,
  type ReplicationConnection,
} from './internal/connection.ts';
import { formatSnapshot, type Snapshot } from './internal/snapshot.ts';
import { linkSchema, literal, qualified } from './internal/sql.ts';
import { APPLY_SETTING, promoteReplica, readReplicaState } from './replica.ts';
import { pendingChanges } from './status.ts';
import { compareTables, type VerifyResult } from './verify.ts';

/** Something the applier did, for logs and progress output. */
export type ApplierEvent =
  | { readonly kind: 'connected'; readonly replicaMode: boolean }
  | { readonly kind: 'waiting-for-lock' }
  | {
      readonly kind: 'batch';
      readonly rows: number;
      readonly tables: number;
      readonly ms: number;
      readonly ddl: number;
    }
  | { readonly kind: 'copy-progress'; readonly progress: CopyProgress }
  | { readonly kind: 'copied'; readonly table: string; readonly rows: number; readonly ms: number }
  | { readonly kind: 'stopped'; readonly reason: string | null }
  | { readonly kind: 'resumed' }
  | { readonly kind: 'schema-change'; readonly message: string }
  | { readonly kind: 'error'; readonly message: string; readonly retryInMs: number }
  | { readonly kind: 'request'; readonly request: string; readonly ok: boolean }
  | { readonly kind: 'promoted' }
  | { readonly kind: 'maintenance'; readonly truncated: number; readonly switched: boolean };

/** Options for an applier. */
export interface ApplierOptions {
  readonly link: string;
  readonly sourceDsn: string;
  readonly targetDsn: string;
  readonly onEvent?: (event: ApplierEvent) => void;
  /** Sleep after a batch that found nothing. @default 20 */
  readonly pollMs?: number;
  /**
   * Least time from one batch's start to the next's while changes keep coming: batches then carry
   * more changes each, and the source spends less on the applier's queries. @default 100
   */
  readonly batchIntervalMs?: number;
  /** How often an idle applier records its position. @default 500 */
  readonly heartbeatMs?: number;
  /** How often the target's control state (stop, resync, requests) is read. @default 250 */
  readonly controlMs?: number;
  /** How often the capture log is trimmed. @default 2_000 */
  readonly maintenanceMs?: number;
  /** Switch log generations at most this often. @default 10_000 */
  readonly rotateAfterMs?: number;
  /** Give up on a silent connection after this long. @default 120_000 */
  readonly networkTimeoutMs?: number;
  /** First reconnect delay; doubles up to `maxBackoffMs`. @default 200 */
  readonly backoffMs?: number;
  /** @default 10_000 */
  readonly maxBackoffMs?: number;
  /** Stop the loop (resolve `done`) once the link is promoted. @default true */
  readonly exitWhenPromoted?: boolean;
}

/** A request the target holds for the applier. */
interface PendingRequest {
  readonly id: number;
  readonly kind: 'verify' | 'promote';
  readonly args: { chunkRows?: number };
}

/** The in-memory view of an applier, for status and tests. */
export interface ApplierStatus {
  readonly connected: boolean;
  readonly holdsLock: boolean;
  readonly position: string | null;
  readonly batches: number;
  readonly rows: number;
  readonly lastError: string | null;
  readonly copying: readonly string[];
}

class Session {
  readonly source: ReplicationConnection;
  readonly target: ReplicationConnection;
  readonly side: ReplicationConnection;
  readonly progressConnection: ReplicationConnection;
  readonly context: BatchContext;
  /**
   * Why a connection's watchdog gave up on a silent network, if one did: the root cause of whatever
   * error the session then ended with ("Connection terminated", a lost connection).
   */
  get silence(): string | undefined {
    return [this.source, this.target, this.side, this.progressConnection].find((c) => c.silence)?.silence;
  }
  config: SourceConfig;
  /** Running copies (two at a time in replica mode, one otherwise). */
  readonly copyRunners = new Set<Promise<void>>();
  readonly copyQueue: number[] = [];
  readonly finished: { tableId: number; result?: CopyResult; error?: unknown }[] = [];
  /** When a table whose copy failed may be tried again. */
  readonly copyRetryAt = new Map<number, number>();
  #progressChain: Promise<unknown> = Promise.resolve();

  /** Writes copy progress one statement at a time on its own connection (copies run side by side). */
  readonly progress: ProgressWriter = {
    query: (text, values) => {
      const next = this.#progressChain.then(() => this.progressConnection.client.query(text, values));
      this.#progressChain = next.catch(() => undefined);
      return next;
    },
  };

  constructor(
    source: ReplicationConnection,
    target: ReplicationConnection,
    side: ReplicationConnection,
    progressConnection: ReplicationConnection,
    context: BatchContext,
    config: SourceConfig,
  ) {
    this.source = source;
    this.target = target;
    this.side = side;
    this.progressConnection = progressConnection;
    this.context = context;
    this.config = config;
  }

  async close(): Promise<void> {
    await Promise.all([...this.copyRunners]);
    await Promise.all([
      this.source.close(),
      this.target.close(),
      this.side.close(),
      this.progressConnection.close(),
    ]);
  }
}

/** The advisory lock key of a link on its target. */
export function applierLockKey(link: string): string {
  return `slipway.replication.${link}`;
}

/** Prepares a target session for applying: replica mode when allowed, and the guard's pass. */
export async function prepareApplySession(
  connection: ReplicationConnection,
  link: string,
): Promise<{ replicaMode: boolean }> {
  let replicaMode = true;
  try {
    // Without FK and user triggers, set-based apply needs no ordering; needs superuser or
    // GRANT SET ON PARAMETER session_replication_role (PostgreSQL 15).
    await connection.client.query('SET session_replication_role = replica');
  } catch {
    replicaMode = false;
  }
  await connection.client.query(`SELECT set_config(${literal(APPLY_SETTING)}, ${literal(link)}, false)`);
  return { replicaMode };
}

/** Runs the loop until stopped. */
export class Applier {
  readonly #options: ApplierOptions;
  readonly #abort = new AbortController();
  #session: Session | undefined;
  #done: Promise<void> | undefined;
  #batches = 0;
  #rows = 0;
  #lastError: string | null = null;
  #holdsLock = false;
  readonly #window: { at: number; rows: number }[] = [];
  #wake: (() => void) | undefined;

  constructor(options: ApplierOptions) {
    this.#options = options;
  }

  /** Starts the loop; `done` resolves when it ends. */
  start(): this {
    this.#done ??= this.#run();
    return this;
  }

  /** Resolves when the loop has ended (stopped, or the link was promoted). */
  get done(): Promise<void> {
    return this.start().#done!;
  }

  /** Stops after the current batch and closes every connection. */
  async stop(): Promise<void> {
    this.#abort.abort();
    this.#wake?.();
    await this.#done;
  }

  /** What the applier knows now. */
  get status(): ApplierStatus {
    const session = this.#session;
    return {
      connected: Boolean(session),
      holdsLock: this.#holdsLock,
      position: session ? formatSnapshot(session.context.position) : null,
      batches: this.#batches,
      rows: this.#rows,
      lastError: this.#lastError,
      copying: session ? [...session.context.busy].map((id) => tableNameOf(session, id)) : [],
    };
  }

  #emit(event: ApplierEvent): void {
    this.#options.onEvent?.(event);
  }

  async #sleep(ms: number): Promise<void> {
    if (this.#abort.signal.aborted || ms <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
    this.#wake = undefined;
  }

  async #run(): Promise<void> {
    let backoff = this.#options.backoffMs ?? 200;
    const maxBackoff = this.#options.maxBackoffMs ?? 10_000;
    while (!this.#abort.signal.aborted) {
      let outcome: 'promoted' | 'locked' | 'stopped' | undefined;
      try {
        outcome = await this.#runSession(() => {
          backoff = this.#options.backoffMs ?? 200;
        });
      } catch (error) {
        const message = this.#session?.silence ?? errorMessage(error);
        this.#lastError = message;
        if (this.#abort.signal.aborted) break;
        const wait = Math.min(maxBackoff, backoff) * (0.75 + Math.random() * 0.5);
        this.#emit({ kind: 'error', message, retryInMs: Math.round(wait) });
        await this.#sleep(wait);
        backoff = Math.min(maxBackoff, backoff * 2);
        continue;
      } finally {
        const session = this.#session;
        this.#session = undefined;
        this.#holdsLock = false;
        await session?.close();
      }
      if (outcome === 'promoted' && (this.#options.exitWhenPromoted ?? true)) return;
      if (outcome === 'locked') await this.#sleep(2_000);
    }
  }

  async #open(): Promise<Session | 'locked'> {
    const name = `slipway-applier:${this.#options.link}`;
    const options = { applicationName: name, networkTimeoutMs: this.#options.networkTimeoutMs ?? 120_000 };
    const opened: ReplicationConnection[] = [];
    try {
      const source = await openConnection(this.#options.sourceDsn, { ...options, side: 'source' });
      opened.push(source);
      const target = await openConnection(this.#options.targetDsn, { ...options, side: 'target' });
      opened.push(target);
      const { rows } = await target.client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock(hashtext($1)) AS locked',
        [applierLockKey(this.#options.link)],
      );
      if (!rows[0]?.locked) {
        await Promise.all(opened.map((c) => c.close()));
        return 'locked';
      }
      const side = await openConnection(this.#options.targetDsn, {
        ...options,
        applicationName: `slipway-control:${this.#options.link}`,
        side: 'target',
      });
      opened.push(side);
      const progress = await openConnection(this.#options.targetDsn, {
        ...options,
        applicationName: `slipway-progress:${this.#options.link}`,
        side: 'target',
      });
      opened.push(progress);
      const { replicaMode } = await prepareApplySession(target, this.#options.link);
      const config = await readSourceConfig(source.client, this.#options.link);
      const replica = await readReplicaState(target.client, this.#options.link);
      const catalog = await tablesByOid(
        source.client,
        config.tables.map((t) => t.oid),
      );
      const tables = new Map<number, ApplyTable>();
      for (const captured of config.tables) {
        const stored = replica.tables.find((t) => t.id === captured.id);
        const info: TableInfo = catalog.get(captured.oid) ?? {
          oid: captured.oid,
          schema: captured.schema,
          name: captured.name,
          columns: [],
          key: captured.key,
          keyTypes: captured.keyTypes,
        };
        tables.set(captured.id, {
          id: captured.id,
          oid: captured.oid,
          info,
          logKey: captured.key,
          state: stored?.state ?? 'copying',
          position: stored?.position,
          shape: stored?.shape ?? { table: tableName(info), columns: [], key: [...captured.key] },
        });
      }
      const context: BatchContext = {
        link: this.#options.link,
        source: source.client,
        target: target.client,
        tables,
        sequences: config.sequences,
        position: replica.position,
        busy: new Set(),
        staged: new Set(),
        sequenceValues: new Map(),
        replicaMode,
      };
      await side.client.query(
        `UPDATE ${qualified(linkSchema(this.#options.link), 'state')} SET applier = $1, heartbeat_at = now()`,
        [`${hostname()}:${process.pid}`],
      );
      this.#emit({ kind: 'connected', replicaMode });
      return new Session(source, target, side, progress, context, config);
    } catch (error) {
      await Promise.all(opened.map((c) => c.close()));
      throw error;
    }
  }

  async #runSession(onProgress: () => void): Promise<'promoted' | 'locked' | 'stopped'> {
    const opened = await this.#open();
    if (opened === 'locked') {
      this.#emit({ kind: 'waiting-for-lock' });
      return 'locked';
    }
    const session = opened;
    this.#session = session;
    this.#holdsLock = true;
    const link = this.#options.link;
    await this.#refuseCascades(session);
    const pollMs = this.#options.pollMs ?? 20;
    const batchIntervalMs = this.#options.batchIntervalMs ?? 100;
    const heartbeatMs = this.#options.heartbeatMs ?? 500;
    const controlMs = this.#options.controlMs ?? 250;
    const maintenanceMs = this.#options.maintenanceMs ?? 2_000;
    let lastCommit = 0;
    let lastControl = 0;
    let lastMaintenance = Date.now();
    let stopped = false;
    let stoppedReason: string | null = null;
    let consecutiveErrors = 0;

    while (!this.#abort.signal.aborted) {
      this.#integrateCopies(session);
      if (session.source.broken || session.target.broken)
        throw new Error(session.silence ?? 'a connection to the link was lost');

      if (Date.now() - lastControl >= controlMs) {
        lastControl = Date.now();
        const control = await readControl(session, link);
        if (control.desired === 'promoted') {
          this.#emit({ kind: 'promoted' });
          return 'promoted';
        }
        let nowStopped = control.desired === 'stopped';
        if (stopped && !nowStopped && !(await this.#refuseCascades(session))) nowStopped = true;
        if (nowStopped !== stopped || control.stoppedReason !== stoppedReason) {
          this.#emit(nowStopped ? { kind: 'stopped', reason: control.stoppedReason } : { kind: 'resumed' });
        }
        stopped = nowStopped;
        stoppedReason = control.stoppedReason;
        for (const request of control.requests) {
          const promoted = await this.#handleRequest(session, request, stopped);
          if (promoted) return 'promoted';
        }
        if (!stopped) this.#startCopies(session, control.tableStates);
      }
      if (stopped) {
        if (Date.now() - lastCommit >= 5_000) {
          lastCommit = Date.now();
          await session.side.client.query(
            `UPDATE ${qualified(linkSchema(link), 'state')} SET heartbeat_at = now()`,
          );
        }
        await this.#sleep(controlMs);
        continue;
      }

      const started = Date.now();
      let result: BatchResult;
      try {
        result = await applyBatch(session.context, {
          onlyWhileRunning: true,
          commitEmpty: Date.now() - lastCommit >= heartbeatMs,
          rate: (rows) => this.#rate(rows),
        });
        consecutiveErrors = 0;
      } catch (error) {
        if (error instanceof LinkStoppedError) {
          // Stopped or promoted while the batch ran: nothing was applied; read the new state at once.
          lastControl = 0;
          continue;
        }
        if (error instanceof SchemaChangeError) {
          const message = `Replication link "${link}" stopped: ${error.message}`;
          this.#emit({ kind: 'schema-change', message });
          await recordError(session.side.client, link, message, { stop: true });
          this.#lastError = message;
          lastControl = 0;
          continue;
        }
        if (isConnectionError(error) || session.source.broken || session.target.broken) throw error;
        consecutiveErrors += 1;
        const message = errorMessage(error);
        this.#lastError = message;
        await recordError(session.side.client, link, message, { stop: false });
        const wait = Math.min(this.#options.maxBackoffMs ?? 10_000, 200 * 2 ** consecutiveErrors);
        this.#emit({ kind: 'error', message, retryInMs: wait });
        if (consecutiveErrors >= 3) throw error;
        await this.#sleep(wait);
        continue;
      }
      onProgress();
      if (result.committed) lastCommit = Date.now();
      if (!result.empty) {
        this.#batches += 1;
        this.#rows += result.rows;
        this.#lastError = null;
        this.#emit({
          kind: 'batch',
          rows: result.rows,
          tables: result.tables.length,
          ms: Date.now() - started,
          ddl: result.ddl,
        });
      }
      if (Date.now() - lastMaintenance >= maintenanceMs) {
        lastMaintenance = Date.now();
        await this.#maintain(session);
      }
      if (result.empty) await this.#sleep(pollMs);
      else await this.#sleep(batchIntervalMs - (Date.now() - started));
    }
    return 'stopped';
  }

  /**
   * Without replica mode the replica's own cascades would fire while applying and could remove rows a
   * batch does not carry: stop the link, saying how to fix it. Returns whether the link may run.
   */
  async #refuseCascades(session: Session): Promise<boolean> {
    if (session.context.replicaMode) return true;
    const link = this.#options.link;
    const names = [...session.context.tables.values()].map((t) => tableName(t.info));
    const cascading = await cascadingForeignKeys(session.target.client, names);
    if (cascading.length === 0) return true;
    const first = cascading[0]!;
    const message = `Replication link "${link}" cannot apply: foreign key "${first.constraint}" of "${first.child}" cascades from "${first.parent}" on the replica, and the applier's role may not set session_replication_role (grant it with GRANT SET ON PARAMETER session_replication_role TO <role>, or drop the cascade on the replica)`;
    await recordError(session.side.client, link, message, { stop: true });
    this.#lastError = message;
    this.#emit({ kind: 'schema-change', message });
    return false;
  }

  #rate(rows: number): number {
    const now = Date.now();
    this.#window.push({ at: now, rows });
    while (this.#window.length > 0 && now - this.#window[0]!.at > 10_000) this.#window.shift();
    const span = Math.max(1, (now - (this.#window[0]?.at ?? now)) / 1000);
    return Math.round(this.#window.reduce((sum, w) => sum + w.rows, 0) / Math.max(span, 1));
  }

  async #maintain(session: Session): Promise<void> {
    const context = session.context;
    const result = await maintainLog(
      session.source.client,
      session.config,
      (tableId) => {
        const table = context.tables.get(tableId);
        if (table?.state !== 'replicating' || context.busy.has(tableId)) return undefined;
        return table.position ?? context.position;
      },
      {
        rotateAfterMs: this.#options.rotateAfterMs ?? 10_000,
        eventsApplied: context.position,
        // Batches commit asynchronously; the source's log may only lose what the target can no longer
        // lose. A synchronous commit flushes the target's WAL up to it, every batch before it included.
        beforeTrim: async () => {
          await session.target.client.query(
            `BEGIN; SET LOCAL synchronous_commit = local;
             UPDATE ${qualified(linkSchema(this.#options.link), 'state')} SET heartbeat_at = now(); COMMIT`,
          );
        },
      },
    );
    session.config = { ...session.config, generation: result.generation, rotatedAt: result.rotatedAt };
    if (result.truncated > 0 || result.switched) {
      this.#emit({ kind: 'maintenance', truncated: result.truncated, switched: result.switched });
    }
  }

  /** Moves finished copies into the batch context (only between batches). */
  #integrateCopies(session: Session): void {
    const context = session.context;
    while (session.finished.length > 0) {
      const done = session.finished.shift()!;
      context.busy.delete(done.tableId);
      const table = context.tables.get(done.tableId);
      if (!table) continue;
      if (!done.result) session.copyRetryAt.set(done.tableId, Date.now() + 5_000);
      if (done.result) {
        table.state = 'replicating';
        table.position = done.result.position;
        table.info = done.result.info;
        table.shape = {
          table: tableName(done.result.info),
          columns: done.result.info.columns
            .map((c) => [c.name, c.type, c.generated] as const)
            .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
          key: [...done.result.info.key],
        };
        context.staged.delete(table.id);
        context.targetCatalog = undefined;
      }
    }
  }

  /** Queues a copy for each table that needs one, and starts copies while there is room. */
  #startCopies(session: Session, states: Map<number, string>): void {
    const context = session.context;
    for (const [id, state] of states) {
      const table = context.tables.get(id);
      if (!table || context.busy.has(id)) continue;
      if (state !== 'copying' && state !== 'resync') {
        table.state = 'replicating';
        continue;
      }
      table.state = state;
      if ((session.copyRetryAt.get(id) ?? 0) > Date.now()) continue;
      context.busy.add(id);
      session.copyQueue.push(id);
    }
    // Without replica mode foreign keys are checked while copying: one table at a time, parents first.
    const concurrency = context.replicaMode ? 2 : 1;
    const order = context.targetCatalog?.order;
    if (order) {
      const rank = (id: number) => order.indexOf(tableName(context.tables.get(id)!.info));
      session.copyQueue.sort((a, b) => rank(a) - rank(b));
    }
    while (session.copyRunners.size < concurrency && session.copyQueue.length > 0) {
      const id = session.copyQueue.shift()!;
      const runner: Promise<void> = this.#copyQueue(session, [id])
        .catch(() => undefined)
        .finally(() => session.copyRunners.delete(runner));
      session.copyRunners.add(runner);
    }
  }

  async #copyQueue(session: Session, queue: number[]): Promise<void> {
    const options = {
      applicationName: `slipway-copy:${this.#options.link}`,
      networkTimeoutMs: this.#options.networkTimeoutMs ?? 120_000,
    };
    let source: ReplicationConnection | undefined;
    let target: ReplicationConnection | undefined;
    try {
      source = await openConnection(this.#options.sourceDsn, { ...options, side: 'source' });
      target = await openConnection(this.#options.targetDsn, { ...options, side: 'target' });
      await prepareApplySession(target, this.#options.link);
      for (const id of queue) {
        if (this.#abort.signal.aborted) throw new Error('the applier is stopping');
        const table = session.context.tables.get(id)!;
        const started = Date.now();
        try {
          const result = await copyTable(
            { source: source.client, target: target.client, progress: session.progress },
            this.#options.link,
            table,
            (progress) => this.#emit({ kind: 'copy-progress', progress }),
          );
          this.#emit({
            kind: 'copied',
            table: tableName(result.info),
            rows: result.rows,
            ms: Date.now() - started,
          });
          session.finished.push({ tableId: id, result });
        } catch (error) {
          session.finished.push({ tableId: id, error });
          const message = `Cannot copy table "${tableName(table.info)}": ${errorMessage(error)}`;
          this.#emit({ kind: 'error', message, retryInMs: 2_000 });
          await recordError(session.progress, this.#options.link, message, {
            stop: error instanceof SchemaChangeError,
          }).catch(() => undefined);
          if (isConnectionError(error)) throw error;
        }
      }
    } catch (error) {
      for (const id of queue) {
        if (!session.finished.some((f) => f.tableId === id)) session.finished.push({ tableId: id, error });
      }
      throw error;
    } finally {
      await source?.close();
      await target?.close();
    }
  }

  async #handleRequest(session: Session, request: PendingRequest, stopped: boolean): Promise<boolean> {
    const link = this.#options.link;
    const schema = linkSchema(link);
    await session.side.client.query(
      `UPDATE ${qualified(schema, 'requests')} SET started_at = now() WHERE id = $1`,
      [request.id],
    );
    try {
      const result =
        request.kind === 'verify'
          ? await verifyInSession(session, { stopped, chunkRows: request.args.chunkRows })
          : await promoteInSession(session, link);
      await session.side.client.query(
        `UPDATE ${qualified(schema, 'requests')} SET finished_at = now(), result = $2 WHERE id = $1`,
        [request.id, JSON.stringify(result)],
      );
      this.#emit({ kind: 'request', request: request.kind, ok: true });
      return request.kind === 'promote';
    } catch (error) {
      await session.side.client.query(
        `UPDATE ${qualified(schema, 'requests')} SET finished_at = now(), error = $2 WHERE id = $1`,
        [request.id, errorMessage(error)],
      );
      this.#emit({ kind: 'request', request: request.kind, ok: false });
      if (isConnectionError(error)) throw error;
      return false;
    }
  }
}

function tableNameOf(session: Session, id: number): string {
  const table = session.context.tables.get(id);
  return table ? tableName(table.info) : String(id);
}

async function readControl(
  session: Session,
  link: string,
): Promise<{
  desired: string;
  stoppedReason: string | null;
  tableStates: Map<number, string>;
  requests: PendingRequest[];
}> {
  const schema = linkSchema(link);
  const results = (await session.side.client.query(
    `SELECT desired, stopped_reason FROM ${qualified(schema, 'state')};
     SELECT id, state FROM ${qualified(schema, 'tables')};
     SELECT id::int, kind, args FROM ${qualified(schema, 'requests')} WHERE finished_at IS NULL ORDER BY id`,
  )) as unknown as pg.QueryResult[];
  const state = results[0]!.rows[0] as { desired: string; stopped_reason: string | null };
  return {
    desired: state.desired,
    stoppedReason: state.stopped_reason,
    tableStates: new Map((results[1]!.rows as { id: number; state: string }[]).map((r) => [r.id, r.state])),
    requests: results[2]!.rows as PendingRequest[],
  };
}

/** Records the applier's last error on the target (and stops the link when asked). */
async function recordError(
  writer: ProgressWriter,
  link: string,
  message: string,
  options: { stop: boolean },
): Promise<void> {
  await writer
    .query(
      `UPDATE ${qualified(linkSchema(link), 'state')} SET last_error = $1, last_error_at = now()
         ${options.stop ? `, desired = 'stopped', stopped_reason = $1` : ''}`,
      [message],
    )
    .catch(() => undefined);
}

/**
 * Verifies inside a session: when running, applies a batch and compares while the source still
 * holds that batch's snapshot, so both sides are compared at the same point; when stopped, compares
 * the sides as they are and reports the changes not yet applied.
 */
async function verifyInSession(
  session: Session,
  options: { stopped: boolean; chunkRows?: number | undefined },
): Promise<VerifyResult> {
  const context = session.context;
  const skipped = [...context.busy].map((id) => tableNameOf(session, id));
  const tables = [...context.tables.values()]
    .filter((t) => t.state === 'replicating' && !context.busy.has(t.id))
    .map((t) => t.info);
  if (options.stopped) {
    const pending = await pendingChanges(
      session.source.client,
      context.link,
      [...context.tables.values()],
      context.position,
    );
    return compareTables(session.source.client, session.side.client, tables, {
      ...(options.chunkRows ? { chunkRows: options.chunkRows } : {}),
      position: null,
      pendingChanges: pending,
      skipped,
    });
  }
  let result: VerifyResult | undefined;
  await applyBatch(context, {
    commitEmpty: true,
    whileHoldingSnapshot: async (snapshot: Snapshot) => {
      result = await compareTables(session.source.client, session.side.client, tables, {
        ...(options.chunkRows ? { chunkRows: options.chunkRows } : {}),
        position: formatSnapshot(snapshot),
        skipped,
      });
    },
  });
  return result!;
}

/** Promotes inside a session: a last batch when the source answers, then the promotion itself. */
async function promoteInSession(
  session: Session,
  link: string,
): Promise<{ finalBatch: boolean; sequences: number }> {
  let finalBatch = false;
  try {
    await applyBatch(session.context, { commitEmpty: true });
    finalBatch = true;
  } catch (error) {
    if (!isConnectionError(error)) throw error;
  }
  const { sequences } = await promoteReplica(session.side.client, link);
  return { finalBatch, sequences };
}

/** An error's message with connection failures described without the connection string. */
export function errorMessage(error: unknown): string {
  if (isConnectionError(error)) {
    const message = error instanceof Error ? error.message : String(error);
    if (/^Cannot connect to the (source|target)/.test(message) || /^no answer from the/.test(message))
      return message;
    return `the connection failed: ${describeConnectionFailure(error)}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** A request's outcome as the target records it. */
export interface RequestOutcome<T> {
  readonly result?: T;
  readonly error?: string;
}

/**
 * Asks the applier that holds the link's lock to do something at a batch boundary (verify, promote)
 * and waits for its answer.
 * @throws when no answer comes within `timeoutMs` (the request is withdrawn if nobody started it)
 */
export async function requestFromApplier<T>(
  target: pg.Client,
  link: string,
  kind: 'verify' | 'promote',
  options: { args?: Record<string, unknown>; timeoutMs?: number; pollMs?: number } = {},
): Promise<RequestOutcome<T>> {
  const table = qualified(linkSchema(link), 'requests');
  const { rows } = await target.query<{ id: string }>(
    `INSERT INTO ${table} (kind, args) VALUES ($1, $2) RETURNING id::text`,
    [kind, JSON.stringify(options.args ?? {})],
  );
  const id = rows[0]!.id;
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  while (Date.now() < deadline) {
    const answer = await target.query<{
      finished: boolean;
      started: boolean;
      result: T | null;
      error: string | null;
    }>(
      `SELECT finished_at IS NOT NULL AS finished, started_at IS NOT NULL AS started, result, error FROM ${table} WHERE id = $1`,
      [id],
    );
    const row = answer.rows[0];
    if (row?.finished) {
      await target.query(`DELETE FROM ${table} WHERE id = $1`, [id]);
      return row.error ? { error: row.error } : { result: row.result as T };
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 100));
  }
  await target.query(`DELETE FROM ${table} WHERE id = $1 AND started_at IS NULL`, [id]);
  throw new Error(`The applier of link "${link}" did not answer the ${kind} request in time`);
}
