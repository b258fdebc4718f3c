import { type Kysely, type Selectable, sql } from 'kysely';
import { newId } from '../core/index.ts';
import { inTransaction } from '../store/index.ts';
import type { AppRow } from './apps.ts';
import { RunFinishedError, RunNotFoundError } from './errors.ts';
import type { PipelineTables, Run, RunState, RunStep, TriggerKind } from './schema.ts';

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

/** Runs `work` in the caller's transaction, or in a new one. */
export function inTransactionOf<T>(db: Kysely<any>, work: (trx: Db) => Promise<T>): Promise<T> {
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
