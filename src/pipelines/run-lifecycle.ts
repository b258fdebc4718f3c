import { type Kysely, sql } from 'kysely';
import { inTransactionOf, type RunRow } from './runs.ts';
import type { PipelineTables, RunState, StepState } from './schema.ts';

/**
 * A run's life on an executor: claimed under the app's concurrency limit, its steps' states and
 * outputs recorded, kept alive by a heartbeat, finished; taken back when its control plane stops.
 */

type Db = Kysely<PipelineTables>;

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
