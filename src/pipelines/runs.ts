import { type Kysely, type Selectable, sql } from 'kysely';
import { newId } from '../core/index.ts';
import { inTransaction } from '../store/index.ts';
import type { AppRow } from './apps.ts';
import { RunFinishedError, RunNotFoundError } from './errors.ts';
import type { LogChunk, PipelineTables, Run, RunState, RunStep, StepState, TriggerKind } from './schema.ts';

type Db = Kysely<PipelineTables>;

/** A run's stored row. */
export type RunRow = Selectable<PipelineTables['pipeline_runs']>;
type StepRow = Selectable<PipelineTables['pipeline_run_steps']>;

/** The steps a new run gets: name, title and a first timeout (the executor refines it). */
export interface PlannedStep {
  readonly name: string;
  readonly title: string;
  readonly timeoutMs: number;
}

/** What a trigger did. */
export interface QueueRunResult {
  /**
   * `queued`: a new run; `superseded`: a queued run not yet started now builds this newer commit;
   * `duplicate`: this commit was built (or is queued) already.
   */
  readonly outcome: 'queued' | 'superseded' | 'duplicate';
  readonly run: RunRow;
}

/** Triggers that report pushes: the same commit never builds twice from them. */
const AUTOMATIC_TRIGGERS: readonly TriggerKind[] = ['github', 'gitlab', 'gitea', 'git-hook', 'poll'];

function iso(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}

function toStep(row: StepRow): RunStep {
  return {
    position: row.position,
    name: row.name,
    title: row.title,
    state: row.state,
    timeoutMs: row.timeout_ms,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    error: row.error,
  };
}

/** A run as the API shows it. */
export function toRun(row: RunRow, steps: readonly StepRow[]): Run {
  return {
    id: row.id,
    app: row.app,
    number: row.number,
    commit: row.commit,
    branch: row.branch,
    trigger: row.trigger,
    triggeredBy: row.triggered_by,
    state: row.state,
    attempt: row.attempt,
    version: row.version,
    error: row.error,
    rerunOf: row.rerun_of,
    supersededCommits: row.superseded_commits ?? [],
    cancelRequested: row.cancel_requested,
    createdAt: row.created_at.toISOString(),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    steps: steps.map(toStep),
    outputs: row.outputs ?? {},
  };
}

/** The next build number of an app (never reused, even after the app is deleted and made again). */
async function nextBuildNumber(db: Db, app: string): Promise<number> {
  const { last_build } = await db
    .insertInto('pipeline_build_numbers')
    .values({ app, last_build: 1 })
    .onConflict((oc) =>
      oc.column('app').doUpdateSet({ last_build: sql`pipeline_build_numbers.last_build + 1` }),
    )
    .returning('last_build')
    .executeTakeFirstOrThrow();
  return last_build;
}

async function insertRun(
  trx: Db,
  app: AppRow,
  input: {
    commit: string;
    branch: string;
    trigger: TriggerKind;
    triggeredBy?: string | undefined;
    rerunOf?: number | undefined;
    steps: readonly PlannedStep[];
    now: Date;
  },
): Promise<RunRow> {
  const number = await nextBuildNumber(trx, app.name);
  const run = await trx
    .insertInto('pipeline_runs')
    .values({
      id: newId(),
      app_id: app.id,
      app: app.name,
      number,
      commit: input.commit,
      branch: input.branch,
      trigger: input.trigger,
      triggered_by: input.triggeredBy ?? null,
      state: 'queued',
      attempt: 1,
      version: null,
      error: null,
      rerun_of: input.rerunOf ?? null,
      superseded_commits: [],
      cancel_requested: false,
      outputs: JSON.stringify({}) as unknown as Record<string, unknown>,
      runner: null,
      job_id: null,
      heartbeat_at: null,
      created_at: input.now,
      started_at: null,
      finished_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await trx
    .insertInto('pipeline_run_steps')
    .values(
      input.steps.map((step, position) => ({
        run_id: run.id,
        position,
        name: step.name,
        title: step.title,
        state: 'pending' as const,
        timeout_ms: step.timeoutMs,
        started_at: null,
        finished_at: null,
        error: null,
      })),
    )
    .execute();
  return run;
}

/**
 * Queues a run for a commit, in one transaction that holds the app's row:
 * - a commit a trigger already reported is not built again (`duplicate`);
 * - while a run from a trigger waits in the queue, a newer push replaces its commit (`superseded`),
 *   so a burst of pushes builds the newest commit once;
 * - manual runs and re-runs always make a new run with a new build number.
 */
export async function queueRun(
  db: Kysely<any>,
  input: {
    readonly app: string;
    readonly commit: string;
    readonly branch: string;
    readonly trigger: TriggerKind;
    readonly triggeredBy?: string;
    readonly rerunOf?: number;
    readonly steps: readonly PlannedStep[];
    readonly now: Date;
  },
): Promise<QueueRunResult> {
  return inTransactionOf(db, async (trx) => {
    const app = await trx
      .selectFrom('pipeline_apps')
      .selectAll()
      .where('name', '=', input.app)
      .forUpdate()
      .executeTakeFirst();
    if (!app) throw new RunNotFoundError(input.app, 0);
    const automatic = AUTOMATIC_TRIGGERS.includes(input.trigger);
    if (automatic) {
      const existing = await trx
        .selectFrom('pipeline_runs')
        .selectAll()
        .where('app_id', '=', app.id)
        .where('commit', '=', input.commit)
        .where('trigger', 'not in', ['rerun', 'manual'])
        .executeTakeFirst();
      if (existing) return { outcome: 'duplicate', run: existing };
      const waiting = await trx
        .selectFrom('pipeline_runs')
        .selectAll()
        .where('app_id', '=', app.id)
        .where('state', '=', 'queued')
        .where('attempt', '=', 1)
        .where('started_at', 'is', null)
        .where('trigger', 'in', [...AUTOMATIC_TRIGGERS])
        .where('branch', '=', input.branch)
        .orderBy('number', 'desc')
        .executeTakeFirst();
      if (waiting) {
        const run = await trx
          .updateTable('pipeline_runs')
          .set({
            commit: input.commit,
            trigger: input.trigger,
            triggered_by: input.triggeredBy ?? null,
            superseded_commits: sql`array_append(superseded_commits, ${waiting.commit})`,
          })
          .where('id', '=', waiting.id)
          .returningAll()
          .executeTakeFirstOrThrow();
        return { outcome: 'superseded', run };
      }
    }
    const run = await insertRun(trx, app, input);
    return { outcome: 'queued', run };
  });
}

function inTransactionOf<T>(db: Kysely<any>, work: (trx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db as Db) : inTransaction(db, (trx) => work(trx as Db));
}

/** A run with its steps. */
export async function loadRun(
  db: Kysely<any>,
  runId: string,
): Promise<{ row: RunRow; steps: StepRow[] } | undefined> {
  const row = await (db as Db)
    .selectFrom('pipeline_runs')
    .selectAll()
    .where('id', '=', runId)
    .executeTakeFirst();
  if (!row) return undefined;
  const steps = await (db as Db)
    .selectFrom('pipeline_run_steps')
    .selectAll()
    .where('run_id', '=', runId)
    .orderBy('position')
    .execute();
  return { row, steps };
}

/**
 * A run of an app by its number.
 * @throws RunNotFoundError
 */
export async function findRun(db: Kysely<any>, app: string, number: number): Promise<Run> {
  const row = await (db as Db)
    .selectFrom('pipeline_runs')
    .select('id')
    .where('app', '=', app)
    .where('number', '=', number)
    .executeTakeFirst();
  const loaded = row ? await loadRun(db, row.id) : undefined;
  if (!loaded) throw new RunNotFoundError(app, number);
  return toRun(loaded.row, loaded.steps);
}

/** Lists runs, newest first. */
export async function listRuns(
  db: Kysely<any>,
  filter: { readonly app?: string; readonly state?: RunState; readonly limit?: number } = {},
): Promise<Run[]> {
  let query = (db as Db).selectFrom('pipeline_runs').selectAll();
  if (filter.app) query = query.where('app', '=', filter.app);
  if (filter.state) query = query.where('state', '=', filter.state);
  const rows = await query
    .orderBy('created_at', 'desc')
    .orderBy('number', 'desc')
    .limit(filter.limit ?? 50)
    .execute();
  if (rows.length === 0) return [];
  const steps = await (db as Db)
    .selectFrom('pipeline_run_steps')
    .selectAll()
    .where(
      'run_id',
      'in',
      rows.map((r) => r.id),
    )
    .orderBy('position')
    .execute();
  return rows.map((row) =>
    toRun(
      row,
      steps.filter((s) => s.run_id === row.id),
    ),
  );
}

/**
 * Cancels a run: a queued one at once; a running one is asked to stop (its executor kills the step
 * within a second and marks it cancelled).
 * @throws RunNotFoundError, RunFinishedError
 */
export async function requestCancel(
  db: Kysely<any>,
  input: { readonly app: string; readonly number: number; readonly now: Date },
): Promise<RunRow> {
  return inTransactionOf(db, async (trx) => {
    const run = await trx
      .selectFrom('pipeline_runs')
      .selectAll()
      .where('app', '=', input.app)
      .where('number', '=', input.number)
      .forUpdate()
      .executeTakeFirst();
    if (!run) throw new RunNotFoundError(input.app, input.number);
    if (run.state === 'queued') {
      await trx
        .updateTable('pipeline_run_steps')
        .set({ state: 'cancelled' })
        .where('run_id', '=', run.id)
        .where('state', 'in', ['pending', 'running'])
        .execute();
      return trx
        .updateTable('pipeline_runs')
        .set({
          state: 'cancelled',
          cancel_requested: true,
          finished_at: input.now,
          error: 'cancelled before it started',
        })
        .where('id', '=', run.id)
        .returningAll()
        .executeTakeFirstOrThrow();
    }
    if (run.state !== 'running') throw new RunFinishedError(input.app, input.number, run.state);
    return trx
      .updateTable('pipeline_runs')
      .set({ cancel_requested: true })
      .where('id', '=', run.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/** How a claim went. */
export type ClaimResult =
  | { readonly claimed: true; readonly run: RunRow }
  | { readonly claimed: false; readonly reason: 'gone' | 'busy' };

/**
 * Takes a queued run for this executor when the app is below its concurrency limit. The app's row
 * is locked meanwhile, so two executors never both take the last slot.
 */
export async function claimRun(
  db: Kysely<any>,
  input: { readonly runId: string; readonly attempt: number; readonly runner: string; readonly now: Date },
): Promise<ClaimResult> {
  return inTransactionOf(db, async (trx) => {
    const run = await trx
      .selectFrom('pipeline_runs')
      .selectAll()
      .where('id', '=', input.runId)
      .executeTakeFirst();
    if (run?.state !== 'queued' || run.attempt !== input.attempt) return { claimed: false, reason: 'gone' };
    const app = await trx
      .selectFrom('pipeline_apps')
      .select(['id', 'concurrency'])
      .where('id', '=', run.app_id)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const { count } = await trx
      .selectFrom('pipeline_runs')
      .select(sql<string>`count(*)`.as('count'))
      .where('app_id', '=', app.id)
      .where('state', '=', 'running')
      .executeTakeFirstOrThrow();
    if (Number(count) >= app.concurrency) return { claimed: false, reason: 'busy' };
    const claimed = await trx
      .updateTable('pipeline_runs')
      .set({
        state: 'running',
        runner: input.runner,
        heartbeat_at: input.now,
        started_at: sql`coalesce(started_at, ${input.now})`,
      })
      .where('id', '=', run.id)
      .where('state', '=', 'queued')
      .where('attempt', '=', input.attempt)
      .returningAll()
      .executeTakeFirst();
    return claimed ? { claimed: true, run: claimed } : { claimed: false, reason: 'gone' };
  });
}

/** Updates one step's state (and its timeout, times and error). */
export async function setStepState(
  db: Kysely<any>,
  runId: string,
  position: number,
  change: {
    state: StepState;
    timeoutMs?: number;
    startedAt?: Date;
    finishedAt?: Date;
    error?: string | null;
  },
): Promise<void> {
  await (db as Db)
    .updateTable('pipeline_run_steps')
    .set({
      state: change.state,
      ...(change.timeoutMs !== undefined ? { timeout_ms: change.timeoutMs } : {}),
      ...(change.startedAt ? { started_at: change.startedAt } : {}),
      ...(change.finishedAt ? { finished_at: change.finishedAt } : {}),
      ...(change.error !== undefined ? { error: change.error } : {}),
    })
    .where('run_id', '=', runId)
    .where('position', '=', position)
    .execute();
}

/** Stores a step's outputs under its name (kept with the run; later steps and re-tries read them). */
export async function setRunOutput(
  db: Kysely<any>,
  runId: string,
  step: string,
  values: Record<string, unknown>,
): Promise<void> {
  await (db as Db)
    .updateTable('pipeline_runs')
    .set({ outputs: sql`outputs || jsonb_build_object(${step}::text, ${JSON.stringify(values)}::jsonb)` })
    .where('id', '=', runId)
    .execute();
}

/** Records the version a run builds. */
export async function setRunVersion(db: Kysely<any>, runId: string, version: string): Promise<void> {
  await (db as Db).updateTable('pipeline_runs').set({ version }).where('id', '=', runId).execute();
}

/** Ends a run; only the executor that holds it can. */
export async function finishRun(
  db: Kysely<any>,
  input: {
    readonly runId: string;
    readonly runner: string;
    readonly state: RunState;
    readonly error: string | null;
    readonly now: Date;
  },
): Promise<void> {
  await (db as Db)
    .updateTable('pipeline_runs')
    .set({ state: input.state, error: input.error, finished_at: input.now, heartbeat_at: null, runner: null })
    .where('id', '=', input.runId)
    .where('runner', '=', input.runner)
    .execute();
}

/**
 * Proves the executor still holds a run, and says whether a cancel was asked for. False when the
 * run was taken away (recovered by another control plane after a stall).
 */
export async function heartbeat(
  db: Kysely<any>,
  input: { readonly runId: string; readonly runner: string; readonly now: Date },
): Promise<{ held: boolean; cancelRequested: boolean }> {
  const row = await (db as Db)
    .updateTable('pipeline_runs')
    .set({ heartbeat_at: input.now })
    .where('id', '=', input.runId)
    .where('runner', '=', input.runner)
    .where('state', '=', 'running')
    .returning('cancel_requested')
    .executeTakeFirst();
  return { held: row !== undefined, cancelRequested: row?.cancel_requested ?? false };
}

/** A run taken back from a control plane that stopped answering, and what became of it. */
export interface RecoveredRun {
  readonly runId: string;
  readonly app: string;
  readonly number: number;
  readonly attempt: number;
  readonly outcome: 'retried' | 'failed';
}

/**
 * Finds runs whose executor stopped heart-beating (its control plane crashed or was killed) and
 * either queues them again (a new attempt, up to `maxAttempts`) or fails them. The interrupted step is
 * marked failed with the reason; nothing stays "running" for ever.
 */
export async function recoverStaleRuns(
  db: Kysely<any>,
  input: { readonly staleBefore: Date; readonly maxAttempts: number; readonly now: Date },
): Promise<RecoveredRun[]> {
  return inTransactionOf(db, async (trx) => {
    const stale = await trx
      .selectFrom('pipeline_runs')
      .selectAll()
      .where('state', '=', 'running')
      .where((eb) => eb.or([eb('heartbeat_at', '<', input.staleBefore), eb('heartbeat_at', 'is', null)]))
      .forUpdate()
      .skipLocked()
      .execute();
    const recovered: RecoveredRun[] = [];
    for (const run of stale) {
      const retry = run.attempt < input.maxAttempts && !run.cancel_requested;
      await trx
        .updateTable('pipeline_run_steps')
        .set({
          state: 'failed',
          finished_at: input.now,
          error: 'interrupted: the control plane running it stopped',
        })
        .where('run_id', '=', run.id)
        .where('state', '=', 'running')
        .execute();
      if (retry) {
        await trx
          .updateTable('pipeline_runs')
          .set({ state: 'queued', attempt: run.attempt + 1, runner: null, heartbeat_at: null, job_id: null })
          .where('id', '=', run.id)
          .execute();
      } else {
        await trx
          .updateTable('pipeline_run_steps')
          .set({ state: run.cancel_requested ? 'cancelled' : 'skipped' })
          .where('run_id', '=', run.id)
          .where('state', '=', 'pending')
          .execute();
        await trx
          .updateTable('pipeline_runs')
          .set({
            state: run.cancel_requested ? 'cancelled' : 'failed',
            runner: null,
            heartbeat_at: null,
            finished_at: input.now,
            error: run.cancel_requested
              ? 'cancelled while its control plane was stopped'
              : `interrupted ${run.attempt} time${run.attempt === 1 ? '' : 's'}: the control plane running it stopped`,
          })
          .where('id', '=', run.id)
          .execute();
      }
      recovered.push({
        runId: run.id,
        app: run.app,
        number: run.number,
        attempt: run.attempt,
        outcome: retry ? 'retried' : 'failed',
      });
    }
    return recovered;
  });
}

/**
 * Puts a run this executor holds back in the queue as a new attempt (the control plane is stopping).
 * Returns false when it no longer held it.
 */
export async function requeueRun(
  db: Kysely<any>,
  input: { readonly runId: string; readonly runner: string; readonly now: Date },
): Promise<boolean> {
  return inTransactionOf(db, async (trx) => {
    const run = await trx
      .selectFrom('pipeline_runs')
      .selectAll()
      .where('id', '=', input.runId)
      .where('runner', '=', input.runner)
      .where('state', '=', 'running')
      .forUpdate()
      .executeTakeFirst();
    if (!run) return false;
    await trx
      .updateTable('pipeline_run_steps')
      .set({ state: 'failed', finished_at: input.now, error: 'interrupted: the control plane was stopping' })
      .where('run_id', '=', run.id)
      .where('state', '=', 'running')
      .execute();
    await trx
      .updateTable('pipeline_runs')
      .set({ state: 'queued', attempt: run.attempt + 1, runner: null, heartbeat_at: null, job_id: null })
      .where('id', '=', run.id)
      .execute();
    return true;
  });
}

/** Records the queue job that will execute a run's current attempt. */
export async function setRunJob(db: Kysely<any>, runId: string, jobId: string | null): Promise<void> {
  await (db as Db).updateTable('pipeline_runs').set({ job_id: jobId }).where('id', '=', runId).execute();
}

/** Queued runs of apps that have room for them, oldest first: what an executor should take next. */
export async function runnableRuns(
  db: Kysely<any>,
  limit = 20,
): Promise<{ id: string; attempt: number; job_id: string | null }[]> {
  const { rows } = await sql<{ id: string; attempt: number; job_id: string | null }>`
    SELECT r.id, r.attempt, r.job_id FROM pipeline_runs r JOIN pipeline_apps a ON a.id = r.app_id
    WHERE r.state = 'queued'
      AND (SELECT count(*) FROM pipeline_runs x WHERE x.app_id = r.app_id AND x.state = 'running') < a.concurrency
    ORDER BY r.created_at, r.number
    LIMIT ${limit}`.execute(db);
  return rows;
}

/** Appends pieces of a run's log. */
export async function appendLogs(
  db: Kysely<any>,
  runId: string,
  chunks: readonly { step: string | null; at: Date; text: string }[],
): Promise<void> {
  if (chunks.length === 0) return;
  await (db as Db)
    .insertInto('pipeline_run_logs')
    .values(chunks.map((chunk) => ({ run_id: runId, step: chunk.step, at: chunk.at, text: chunk.text })))
    .execute();
}

/** A run's log after a position, in order. */
export async function readLogs(
  db: Kysely<any>,
  runId: string,
  options: { readonly after?: number; readonly limit?: number } = {},
): Promise<LogChunk[]> {
  const rows = await (db as Db)
    .selectFrom('pipeline_run_logs')
    .select(['seq', 'step', 'at', 'text'])
    .where('run_id', '=', runId)
    .where('seq', '>', options.after ?? 0)
    .orderBy('seq')
    .limit(options.limit ?? 2000)
    .execute();
  return rows.map((row) => ({
    seq: Number(row.seq),
    step: row.step,
    at: row.at.toISOString(),
    text: row.text,
  }));
}

/** The run a public handle (APP/NUMBER) names, with its id, state and steps. */
export async function runIdOf(db: Kysely<any>, app: string, number: number): Promise<RunRow> {
  const row = await (db as Db)
    .selectFrom('pipeline_runs')
    .selectAll()
    .where('app', '=', app)
    .where('number', '=', number)
    .executeTakeFirst();
  if (!row) throw new RunNotFoundError(app, number);
  return row;
}
