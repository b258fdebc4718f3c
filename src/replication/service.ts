/**
 * The replication service in the control plane: link definitions (connection strings sealed at rest),
 * the operations behind the API, the embedded appliers (run by the leader), status and Prometheus
 * metrics, and the lag alert.
 */
import type { Kysely } from 'kysely';
import pg from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';
import {
  type Clock,
  type Logger,
  newId,
  PLATFORM,
  type Role,
  type Scope,
  SYSTEM_CLOCK,
} from '../core/index.ts';
import { type SingletonLoop, startSingletonLoop } from '../jobs/index.ts';
import { survivingLostConnections } from '../store/index.ts';
import { Applier, type ApplierOptions, applierLockKey, errorMessage, requestFromApplier } from './applier.ts';
import {
  ApplierRequestError,
  LinkDatabaseUnavailableError,
  LinkExistsError,
  LinkNotFoundError,
  LinkStateError,
  TablesNotReplicableError,
} from './errors.ts';
import { describeConnectionFailure, type Side } from './internal/connection.ts';
import { applyDdl, connectSide, installLink, type TableSelection, uninstallLink } from './link-setup.ts';
import { promoteReplica, readReplicaState, requestResync, setDesiredState } from './replica.ts';
import type {
  ApplierMode,
  CreateLinkBody,
  LinkDetail,
  LinkEvent,
  LinkHealth,
  LinkSummary,
  LiveStatus,
  ReplicationTables,
} from './schema.ts';
import { readLinkStatus } from './status.ts';
import type { VerifyResult } from './verify.ts';

/** Seals connection strings at rest (the secrets module's envelope cipher fits). */
export interface SealingCipher {
  seal(plaintext: string, context: string): Promise<string>;
  open(token: string, context: string): Promise<string>;
}

/** Where lag alerts go (the notifications module's Notifier fits). */
export interface AlertNotifier {
  notify(input: {
    readonly event: string;
    readonly title: string;
    readonly text: string;
    readonly audience: { readonly role: Role; readonly scope: Scope };
    readonly data?: Record<string, unknown>;
  }): Promise<unknown>;
}

/** A lag alert raised or cleared. */
export interface LagAlert {
  readonly link: string;
  readonly kind: 'raised' | 'cleared';
  readonly lagSeconds: number;
  readonly thresholdSeconds: number;
}

/** What the service needs. */
export interface ReplicationServiceOptions {
  readonly db: Kysely<any>;
  /** For the leader lock of the loop that runs embedded appliers. */
  readonly pool: pg.Pool;
  /** Seals the connection strings; called when needed, so a sealed secret store only fails those calls. */
  readonly cipher: () => SealingCipher;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** The control plane's Prometheus registry. */
  readonly registry?: Registry;
  readonly notifier?: AlertNotifier;
  /** Called for every alert raised or cleared (after it is recorded). */
  readonly onAlert?: (alert: LagAlert) => void;
  /** Settings for embedded and temporary appliers. */
  readonly applier?: Partial<Omit<ApplierOptions, 'link' | 'sourceDsn' | 'targetDsn' | 'onEvent'>>;
  /** @default 1_000 */
  readonly loopIntervalMs?: number;
  /** @default 5_000 */
  readonly alertIntervalMs?: number;
}

type LinkRow = {
  id: string;
  name: string;
  source_dsn: string;
  target_dsn: string;
  selection: TableSelection;
  tables: string[];
  applier: ApplierMode;
  lag_alert_seconds: number;
  state: 'running' | 'stopped' | 'promoted';
  direction: number;
  alert_since: Date | null;
  created_at: Date;
  created_by: string | null;
  promoted_at: Date | null;
};

type Dsns = { readonly source: string; readonly target: string };

const STATUS_CACHE_MS = 1_000;

function health(row: LinkRow, status: LiveStatus | null): LinkHealth {
  if (row.state === 'promoted' || status?.desired === 'promoted') return 'promoted';
  if (!status) return 'unknown';
  if (status.desired === 'stopped') return status.stoppedReason ? 'error' : 'stopped';
  if (status.tables.some((t) => t.state !== 'replicating')) return 'copying';
  if (status.lastError || !status.applierRunning) return 'error';
  if (status.lagSeconds > row.lag_alert_seconds) return 'lagging';
  return 'replicating';
}

/** The control plane's replication service. */
export class ReplicationService {
  readonly #options: ReplicationServiceOptions;
  readonly #clock: Clock;
  readonly #appliers = new Map<string, { applier: Applier; direction: number }>();
  readonly #pools = new Map<string, pg.Pool>();
  readonly #statusCache = new Map<string, { at: number; value: Promise<LiveStatus> }>();
  #loop: SingletonLoop | undefined;
  #lastAlertCheck = 0;
  #stopped = false;

  constructor(options: ReplicationServiceOptions) {
    this.#options = options;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    if (options.registry) this.#registerMetrics(options.registry);
  }

  /** Starts the leader-only loop that runs embedded appliers and checks lag. */
  start(): this {
    this.#loop ??= startSingletonLoop(this.#options.pool, {
      name: 'replication',
      intervalMs: this.#options.loopIntervalMs ?? 1_000,
      ...(this.#options.logger ? { logger: this.#options.logger } : {}),
      run: async (signal) => {
        signal.addEventListener('abort', () => void this.#stopAppliers(), { once: true });
        await this.#reconcile();
        if (Date.now() - this.#lastAlertCheck >= (this.#options.alertIntervalMs ?? 5_000)) {
          this.#lastAlertCheck = Date.now();
          await this.checkAlerts();
        }
      },
    });
    return this;
  }

  /** Stops the loop, every embedded applier and every pooled connection. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop?.stop();
    await this.#stopAppliers();
    await Promise.all([...this.#pools.values()].map((p) => p.end().catch(() => undefined)));
    this.#pools.clear();
  }

  /** Whether this control plane runs the embedded appliers now. */
  isLeader(): boolean {
    return this.#loop?.isLeader() ?? false;
  }

  // ---- link records -------------------------------------------------------------------------

  async #row(db: Kysely<any>, name: string): Promise<LinkRow> {
    const row = (await (db as Kysely<ReplicationTables>)
      .selectFrom('replication_links')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst()) as LinkRow | undefined;
    if (!row) throw new LinkNotFoundError(name);
    return row;
  }

  async #rows(db: Kysely<any>): Promise<LinkRow[]> {
    return (await (db as Kysely<ReplicationTables>)
      .selectFrom('replication_links')
      .selectAll()
      .orderBy('name')
      .execute()) as LinkRow[];
  }

  async #dsns(row: LinkRow): Promise<Dsns> {
    const cipher = this.#options.cipher();
    return {
      source: await cipher.open(row.source_dsn, `link:${row.id}:source`),
      target: await cipher.open(row.target_dsn, `link:${row.id}:target`),
    };
  }

  async #event(
    db: Kysely<any>,
    row: { id: string },
    kind: string,
    message: string,
    details?: Record<string, unknown>,
  ): Promise<void> {
    await (db as Kysely<ReplicationTables>)
      .insertInto('replication_events')
      .values({
        link_id: row.id,
        kind,
        message,
        details: details ? (JSON.stringify(details) as unknown) : null,
      })
      .execute();
  }

  // ---- status -------------------------------------------------------------------------------

  #pool(row: LinkRow, side: Side, dsn: string): pg.Pool {
    const key = `${row.id}:${row.direction}:${side}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      // A link's database going away fails the status read, never the control plane.
      pool = survivingLostConnections(
        new pg.Pool({
          connectionString: dsn,
          max: 2,
          idleTimeoutMillis: 30_000,
          connectionTimeoutMillis: 5_000,
          application_name: `slipway-status:${row.name}`.slice(0, 63),
          options: '-c jit=off',
        }),
      );
      this.#pools.set(key, pool);
    }
    return pool;
  }

  async #readStatus(row: LinkRow): Promise<LiveStatus> {
    const dsns = await this.#dsns(row);
    let target: pg.PoolClient;
    try {
      target = await this.#pool(row, 'target', dsns.target).connect();
    } catch (error) {
      throw new LinkDatabaseUnavailableError(row.name, 'target', describeConnectionFailure(error));
    }
    let source: pg.PoolClient | undefined;
    try {
      source = await this.#pool(row, 'source', dsns.source)
        .connect()
        .catch(() => undefined);
      return (await readLinkStatus(source, target, row.name)) as LiveStatus;
    } finally {
      source?.release();
      target.release();
    }
  }

  /**
   * The live status of a link, or the reason it cannot be read. Alerts and metrics share a reading up
   * to a second old; `fresh` reads it again, so a status asked for after a change on the source
   * counts that change (a cached reading from before it would say the replica had caught up).
   */
  async status(
    row: LinkRow,
    options: { fresh?: boolean } = {},
  ): Promise<{ status: LiveStatus | null; error: string | null }> {
    const key = `${row.id}:${row.direction}`;
    let cached = this.#statusCache.get(key);
    if (!cached || options.fresh || Date.now() - cached.at > STATUS_CACHE_MS) {
      cached = { at: Date.now(), value: this.#readStatus(row) };
      cached.value.catch(() => undefined);
      this.#statusCache.set(key, cached);
    }
    try {
      return { status: await cached.value, error: null };
    } catch (error) {
      return { status: null, error: errorMessage(error) };
    }
  }

  async #summary(row: LinkRow): Promise<LinkSummary> {
    const { status, error } = await this.status(row, { fresh: true });
    return {
      name: row.name,
      state: row.state,
      health: health(row, status),
      applier: row.applier,
      tables: row.tables,
      lagAlertSeconds: row.lag_alert_seconds,
      alertSince: row.alert_since?.toISOString() ?? null,
      direction: row.direction,
      createdAt: row.created_at.toISOString(),
      createdBy: row.created_by,
      promotedAt: row.promoted_at?.toISOString() ?? null,
      status,
      statusError: error,
    };
  }

  /** Every link with its status. */
  async list(db: Kysely<any>): Promise<LinkSummary[]> {
    return Promise.all((await this.#rows(db)).map((row) => this.#summary(row)));
  }

  /** One link with its status and recent events. */
  async get(db: Kysely<any>, name: string): Promise<LinkDetail> {
    const row = await this.#row(db, name);
    const events = await (db as Kysely<ReplicationTables>)
      .selectFrom('replication_events')
      .selectAll()
      .where('link_id', '=', row.id)
      .orderBy('id', 'desc')
      .limit(50)
      .execute();
    return {
      ...(await this.#summary(row)),
      events: events.map(
        (e): LinkEvent => ({
          id: Number(e.id),
          at: (e.at as Date).toISOString(),
          kind: e.kind,
          message: e.message,
          details: (e.details as Record<string, unknown> | null) ?? null,
        }),
      ),
    };
  }

  // ---- operations ---------------------------------------------------------------------------

  /**
   * Creates a link: installs capture on the source and the replica's state and guard on the target,
   * then records the link with its connection strings sealed. The applier then copies every table.
   */
  async create(db: Kysely<any>, input: CreateLinkBody, actor: string): Promise<LinkDetail> {
    const existing = await (db as Kysely<ReplicationTables>)
      .selectFrom('replication_links')
      .select('id')
      .where('name', '=', input.name)
      .executeTakeFirst();
    if (existing) throw new LinkExistsError(input.name, 'in Slipway');
    const selection: TableSelection = input.tables ? { tables: input.tables } : { schema: input.schema! };
    const id = newId();
    const cipher = this.#options.cipher();
    const sealed = {
      source: await cipher.seal(input.source, `link:${id}:source`),
      target: await cipher.seal(input.target, `link:${id}:target`),
    };
    const dsns = { source: input.source, target: input.target };
    const installed = await installLink(input.name, dsns, selection);
    try {
      await (db as Kysely<ReplicationTables>)
        .insertInto('replication_links')
        .values({
          id,
          name: input.name,
          source_dsn: sealed.source,
          target_dsn: sealed.target,
          selection: JSON.stringify(selection) as unknown,
          tables: JSON.stringify(installed.tables) as unknown,
          applier: input.applier,
          lag_alert_seconds: input.lagAlertSeconds,
          created_by: actor,
        })
        .execute();
      await this.#event(
        db,
        { id },
        'created',
        `Created by ${actor}: ${installed.tables.length} tables and ${installed.sequences.length} sequences; the applier copies them first`,
        { tables: installed.tables, sequences: installed.sequences, applier: input.applier },
      );
    } catch (error) {
      await uninstallLink(input.name, dsns, { force: true });
      throw error;
    }
    this.#kick();
    return this.get(db, input.name);
  }

  /** Runs a stopped link again (also after a schema change stopped it). */
  async startLink(db: Kysely<any>, name: string, actor: string): Promise<LinkDetail> {
    const row = await this.#row(db, name);
    this.#refusePromoted(row, 'start');
    await this.#onTarget(row, (client) => setDesiredState(client, row.name, 'running'));
    await (db as Kysely<ReplicationTables>)
      .updateTable('replication_links')
      .set({ state: 'running', updated_at: this.#clock.now() })
      .where('id', '=', row.id)
      .execute();
    await this.#event(db, row, 'started', `Started by ${actor}`);
    this.#forget(row);
    this.#kick();
    return this.get(db, name);
  }

  /** Stops applying; changes keep being captured on the source and apply once started again. */
  async stopLink(db: Kysely<any>, name: string, actor: string): Promise<LinkDetail> {
    const row = await this.#row(db, name);
    this.#refusePromoted(row, 'stop');
    await this.#onTarget(row, (client) => setDesiredState(client, row.name, 'stopped'));
    await (db as Kysely<ReplicationTables>)
      .updateTable('replication_links')
      .set({ state: 'stopped', updated_at: this.#clock.now() })
      .where('id', '=', row.id)
      .execute();
    await this.#event(db, row, 'stopped', `Stopped by ${actor}; changes are captured and apply once started`);
    this.#forget(row);
    return this.get(db, name);
  }

  /** Copies one table again while the others keep replicating. */
  async resync(db: Kysely<any>, name: string, table: string, actor: string): Promise<LinkDetail> {
    const row = await this.#row(db, name);
    this.#refusePromoted(row, 'resync a table of');
    const wanted = table.includes('.') ? table : `public.${table}`;
    await this.#onTarget(row, async (client) => {
      const state = await readReplicaState(client, row.name);
      const found = state.tables.find((t) => `${t.schema}.${t.name}` === wanted);
      if (!found) {
        throw new TablesNotReplicableError(
          `Cannot resync "${wanted}": replication link "${name}" does not replicate it`,
          `Run \`slipway replication status ${name}\` to see its tables`,
        );
      }
      await requestResync(client, row.name, found.id);
    });
    await this.#event(db, row, 'resync', `${actor} asked to copy table "${wanted}" again`, { table: wanted });
    this.#forget(row);
    return this.get(db, name);
  }

  /**
   * Compares both sides table by table at one consistent point (the applier answers at a batch
   * boundary; for a stopped link the sides are compared as they are, with the pending changes shown).
   */
  async verify(db: Kysely<any>, name: string, options: { chunkRows?: number } = {}): Promise<VerifyResult> {
    const row = await this.#row(db, name);
    this.#refusePromoted(row, 'verify');
    const result = await this.#request<VerifyResult>(
      row,
      'verify',
      options.chunkRows ? { chunkRows: options.chunkRows } : {},
    );
    const differing = result.tables.filter((t) => !t.identical);
    await this.#event(
      db,
      row,
      'verified',
      result.identical
        ? `Verified: ${result.tables.length} tables identical${result.pendingChanges ? ` (${result.pendingChanges} changes not yet applied)` : ''}`
        : `Verified: ${differing.length} of ${result.tables.length} tables differ, first "${differing[0]!.table}" from key ${differing[0]!.firstDifference?.fromKey}`,
      { identical: result.identical, differing: differing.map((t) => t.table) },
    );
    return result;
  }

  /**
   * Makes the replica the primary: a last batch when the source answers, then the replica becomes
   * writable with its sequences past every value in use, and the link is recorded as promoted.
   */
  async promote(db: Kysely<any>, name: string, actor: string) {
    const row = await this.#row(db, name);
    this.#refusePromoted(row, 'promote');
    const dsns = await this.#dsns(row);
    let result: { finalBatch: boolean; sequences: number };
    const sourceUp = await connectSide(row.name, 'source', dsns.source)
      .then(async (c) => {
        await c.close();
        return true;
      })
      .catch(() => false);
    if (sourceUp) {
      result = await this.#request(row, 'promote', {});
    } else {
      // The primary is gone: promote with what the replica has, under the applier's lock.
      result = await this.#onTarget(row, async (client) => {
        const { rows } = await client.query<{ locked: boolean }>(
          'SELECT pg_try_advisory_lock(hashtext($1)) AS locked',
          [applierLockKey(row.name)],
        );
        if (!rows[0]?.locked) {
          throw new ApplierRequestError(
            `Cannot promote replication link "${name}": an applier still holds it`,
            'Stop the external applier (`slipway replication apply`) and try again',
          );
        }
        try {
          const promoted = await promoteReplica(client, row.name);
          return { finalBatch: false, sequences: promoted.sequences };
        } finally {
          await client.query('SELECT pg_advisory_unlock(hashtext($1))', [applierLockKey(row.name)]);
        }
      });
    }
    const promotedAt = this.#clock.now();
    await (db as Kysely<ReplicationTables>)
      .updateTable('replication_links')
      .set({ state: 'promoted', promoted_at: promotedAt, alert_since: null, updated_at: promotedAt })
      .where('id', '=', row.id)
      .execute();
    await this.#event(
      db,
      row,
      'promoted',
      `Promoted by ${actor}: the replica is writable${result.finalBatch ? ' (after a last batch from the source)' : ' (the source did not answer: changes it had not shipped are not on the replica)'}; ${result.sequences} sequences moved past the values in use`,
      result,
    );
    this.#forget(row);
    await this.#stopApplier(row.name);
    return { name, promotedAt: promotedAt.toISOString(), ...result };
  }

  /** Applies a schema change on both sides at a consistent point (see `applyDdl`). */
  async ddl(db: Kysely<any>, name: string, script: string, options: { targetOnly: boolean }, actor: string) {
    const row = await this.#row(db, name);
    this.#refusePromoted(row, 'change the schema through');
    const result = await applyDdl(row.name, await this.#dsns(row), script, options);
    await this.#event(
      db,
      row,
      'ddl',
      `${actor} applied a schema change${options.targetOnly ? ' on the target (the source had it already)' : ' on both sides'}${result.tablesRecopied.length ? `; copying again: ${result.tablesRecopied.join(', ')}` : ''}`,
      { bytes: Buffer.byteLength(script), targetOnly: options.targetOnly, recopied: result.tablesRecopied },
    );
    this.#forget(row);
    this.#kick();
    return { name, tablesRecopied: [...result.tablesRecopied] };
  }

  /**
   * After a failover, links the other way: the promoted replica becomes the source and the old primary
   * the replica (its tables are copied again from the new primary, discarding what it alone had).
   */
  async reverse(db: Kysely<any>, name: string, actor: string): Promise<LinkDetail> {
    const row = await this.#row(db, name);
    if (row.state !== 'promoted') {
      throw new LinkStateError(
        `Cannot reverse replication link "${name}": its replica has not been promoted`,
        `Promote it first with \`slipway replication promote ${name}\``,
      );
    }
    const dsns = await this.#dsns(row);
    const reversed = { source: dsns.target, target: dsns.source };
    await uninstallLink(row.name, dsns);
    const installed = await installLink(row.name, reversed, { tables: row.tables });
    const cipher = this.#options.cipher();
    await (db as Kysely<ReplicationTables>)
      .updateTable('replication_links')
      .set({
        source_dsn: await cipher.seal(reversed.source, `link:${row.id}:source`),
        target_dsn: await cipher.seal(reversed.target, `link:${row.id}:target`),
        state: 'running',
        direction: row.direction + 1,
        promoted_at: null,
        alert_since: null,
        updated_at: this.#clock.now(),
      })
      .where('id', '=', row.id)
      .execute();
    await this.#event(
      db,
      row,
      'reversed',
      `${actor} linked the other way: the promoted replica is now the source; ${installed.tables.length} tables are copied to the old primary`,
      { tables: installed.tables },
    );
    this.#forget(row);
    this.#kick();
    return this.get(db, name);
  }

  /** Removes the link from both databases and from Slipway. */
  async drop(
    db: Kysely<any>,
    name: string,
    options: { force: boolean },
  ): Promise<{ name: string; leftBehind: Side[] }> {
    const row = await this.#row(db, name);
    await this.#stopApplier(row.name);
    const dsns = await this.#dsns(row);
    const { leftBehind } = await uninstallLink(row.name, dsns, { force: options.force });
    await (db as Kysely<ReplicationTables>)
      .deleteFrom('replication_links')
      .where('id', '=', row.id)
      .execute();
    this.#forget(row);
    return { name, leftBehind };
  }

  #refusePromoted(row: LinkRow, action: string): void {
    if (row.state === 'promoted') {
      throw new LinkStateError(
        `Cannot ${action} replication link "${row.name}": its replica was promoted`,
        `Link the other way with \`slipway replication reverse ${row.name}\`, or drop it`,
      );
    }
  }

  async #onTarget<T>(row: LinkRow, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const dsns = await this.#dsns(row);
    const target = await connectSide(row.name, 'target', dsns.target);
    try {
      return await work(target.client);
    } finally {
      await target.close();
    }
  }

  /**
   * Hands a request to the applier holding the link; when none does, runs a temporary applier in this
   * process until the request is answered.
   */
  async #request<T>(row: LinkRow, kind: 'verify' | 'promote', args: Record<string, unknown>): Promise<T> {
    const dsns = await this.#dsns(row);
    const target = await connectSide(row.name, 'target', dsns.target);
    let temporary: Applier | undefined;
    try {
      const { rows } = await target.client.query<{ held: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = hashtext($1)::oid) AS held`,
        [applierLockKey(row.name)],
      );
      const pending = requestFromApplier<T>(target.client, row.name, kind, { args, timeoutMs: 15 * 60_000 });
      if (!rows[0]?.held) {
        temporary = new Applier({
          ...this.#options.applier,
          link: row.name,
          sourceDsn: dsns.source,
          targetDsn: dsns.target,
        }).start();
      }
      const outcome = await pending;
      if (outcome.error) {
        throw new ApplierRequestError(
          `Cannot ${kind} replication link "${row.name}": ${outcome.error}`,
          `Run \`slipway replication status ${row.name}\` for the link's state and last error`,
          false,
        );
      }
      return outcome.result as T;
    } finally {
      await temporary?.stop();
      await target.close();
    }
  }

  #forget(row: LinkRow): void {
    this.#statusCache.delete(`${row.id}:${row.direction}`);
  }

  // ---- embedded appliers and alerts ------------------------------------------------------------

  #kick(): void {
    if (this.isLeader()) void this.#reconcile().catch(() => undefined);
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped) return;
    const rows = await this.#rows(this.#options.db);
    const wanted = new Map(
      rows.filter((r) => r.applier === 'embedded' && r.state !== 'promoted').map((r) => [r.name, r]),
    );
    for (const [name, running] of this.#appliers) {
      const row = wanted.get(name);
      if (!row || row.direction !== running.direction) await this.#stopApplier(name);
    }
    for (const [name, row] of wanted) {
      if (this.#appliers.has(name)) continue;
      let dsns: Dsns;
      try {
        dsns = await this.#dsns(row);
      } catch (error) {
        this.#options.logger?.warn(
          { link: name, reason: errorMessage(error) },
          'cannot start the replication applier',
        );
        continue;
      }
      const applier = new Applier({
        ...this.#options.applier,
        link: name,
        sourceDsn: dsns.source,
        targetDsn: dsns.target,
        onEvent: (event) => {
          if (event.kind === 'error' || event.kind === 'schema-change') {
            this.#options.logger?.warn(
              { link: name, event: event.kind, message: event.message },
              'replication',
            );
          } else if (event.kind === 'copied' || event.kind === 'stopped' || event.kind === 'promoted') {
            this.#options.logger?.info({ link: name, event }, 'replication');
          }
        },
      }).start();
      this.#appliers.set(name, { applier, direction: row.direction });
      void applier.done.then(() => {
        if (this.#appliers.get(name)?.applier === applier) this.#appliers.delete(name);
      });
    }
  }

  async #stopApplier(name: string): Promise<void> {
    const running = this.#appliers.get(name);
    if (!running) return;
    this.#appliers.delete(name);
    await running.applier.stop();
  }

  async #stopAppliers(): Promise<void> {
    await Promise.all([...this.#appliers.keys()].map((name) => this.#stopApplier(name)));
  }

  /**
   * Raises an alert for each running link whose lag passed its threshold, and clears it when the lag
   * is back under; each is recorded as a link event and sent to the notifier.
   */
  async checkAlerts(): Promise<LagAlert[]> {
    const db = this.#options.db;
    const alerts: LagAlert[] = [];
    for (const row of await this.#rows(db)) {
      if (row.state === 'promoted') continue;
      const { status } = await this.status(row);
      const lag = status?.lagSeconds ?? 0;
      const over = row.state === 'running' && status !== null && lag > row.lag_alert_seconds;
      if (over === (row.alert_since !== null)) continue;
      const alert: LagAlert = {
        link: row.name,
        kind: over ? 'raised' : 'cleared',
        lagSeconds: lag,
        thresholdSeconds: row.lag_alert_seconds,
      };
      const message = over
        ? `Lag of ${lag.toFixed(1)} s is above the ${row.lag_alert_seconds} s threshold (${status?.pendingChanges ?? 0} changes waiting)`
        : `Lag is back under the ${row.lag_alert_seconds} s threshold (${lag.toFixed(1)} s)`;
      await (db as Kysely<ReplicationTables>)
        .updateTable('replication_links')
        .set({ alert_since: over ? this.#clock.now() : null })
        .where('id', '=', row.id)
        .execute();
      await this.#event(db, row, over ? 'lag-alert' : 'lag-recovered', message, { ...alert });
      alerts.push(alert);
      this.#options.onAlert?.(alert);
      await this.#options.notifier
        ?.notify({
          event: over ? 'replication.lag' : 'replication.lag-recovered',
          title: over
            ? `Replication link "${row.name}" is ${lag.toFixed(0)} s behind`
            : `Replication link "${row.name}" caught up`,
          text: message,
          audience: { role: 'admin', scope: PLATFORM },
          data: { ...alert },
        })
        .catch((error) =>
          this.#options.logger?.warn({ err: error, link: row.name }, 'cannot send the lag alert'),
        );
    }
    return alerts;
  }

  // ---- metrics ------------------------------------------------------------------------------

  #registerMetrics(registry: Registry): void {
    let snapshot: { at: number; value: Promise<{ row: LinkRow; status: LiveStatus | null }[]> } | undefined;
    const read = () => {
      if (!snapshot || Date.now() - snapshot.at > 2_000) {
        const value = this.#rows(this.#options.db).then((rows) =>
          Promise.all(rows.map(async (row) => ({ row, status: (await this.status(row)).status }))),
        );
        value.catch(() => undefined);
        snapshot = { at: Date.now(), value };
      }
      return snapshot.value.catch(() => []);
    };
    const gauge = (
      name: string,
      help: string,
      value: (row: LinkRow, s: LiveStatus | null) => number | undefined,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['link'] as const,
        registers: [registry],
        async collect() {
          this.reset();
          for (const { row, status } of await read()) {
            const v = value(row, status);
            if (v !== undefined) this.set({ link: row.name }, v);
          }
        },
      });
    gauge(
      'slipway_replication_lag_seconds',
      'Seconds the replica trails its source (0 when nothing waits)',
      (_, s) => (s ? s.lagSeconds : undefined),
    );
    gauge('slipway_replication_pending_changes', 'Captured changes not yet applied on the replica', (_, s) =>
      s ? s.pendingChanges : undefined,
    );
    gauge('slipway_replication_throughput_rows_per_second', 'Rows applied per second (last 10 s)', (_, s) =>
      s ? s.rowsPerSecond : undefined,
    );
    gauge(
      'slipway_replication_last_error_timestamp_seconds',
      'When the applier last failed (0 when not since it last succeeded)',
      (_, s) => (s ? (s.lastErrorAt ? Date.parse(s.lastErrorAt) / 1000 : 0) : undefined),
    );
    gauge('slipway_replication_up', '1 when the link is running and its applier reports, else 0', (row, s) =>
      s && row.state === 'running' && s.desired === 'running' && s.applierRunning ? 1 : 0,
    );
    gauge('slipway_replication_lag_alert', "1 while the lag is above the link's alert threshold", (row) =>
      row.alert_since ? 1 : 0,
    );
    gauge(
      'slipway_replication_lag_alert_threshold_seconds',
      'The lag above which the link alerts',
      (row) => row.lag_alert_seconds,
    );
    new Counter({
      name: 'slipway_replication_rows_applied_total',
      help: 'Rows applied on the replica since the link was created',
      labelNames: ['link'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        for (const { row, status } of await read())
          if (status) this.inc({ link: row.name }, status.rowsApplied);
      },
    });
    new Gauge({
      name: 'slipway_replication_link_health',
      help: 'The link\'s health: 1 for its current value of "health"',
      labelNames: ['link', 'health'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        for (const { row, status } of await read())
          this.set({ link: row.name, health: health(row, status) }, 1);
      },
    });
    new Gauge({
      name: 'slipway_replication_table_state',
      help: 'Each replicated table\'s state: 1 for its current value of "state"',
      labelNames: ['link', 'table', 'state'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        for (const { row, status } of await read()) {
          for (const table of status?.tables ?? [])
            this.set({ link: row.name, table: table.table, state: table.state }, 1);
        }
      },
    });
  }
}
