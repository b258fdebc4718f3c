import { createHash } from 'node:crypto';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { ArtifactRepository } from '../artifacts/index.ts';
import { type Clock, type Logger, randomToken, SlipwayError } from '../core/index.ts';
import { type JobQueue, type SingletonLoop, startSingletonLoop } from '../jobs/index.ts';
import type { AppRow } from './apps.ts';
import { StepFailedError } from './errors.ts';
import { formatMs } from './format-ms.ts';
import type { AppInfo, PipelineStep, RunInfo, StepContext } from './pipeline-step.ts';
import {
  claimRun,
  finishRun,
  heartbeat,
  recoverStaleRuns,
  requeueRun,
  runnableRuns,
  setRunJob,
  setRunOutput,
  setStepState,
} from './run-lifecycle.ts';
import { type LogRedactor, type RunEvents, RunLogWriter } from './run-log.ts';
import { loadRun, type RunRow } from './runs.ts';
import { type BuildUser, ensureBuildUser, firstClosedAncestor } from './sandbox.ts';
import type { PipelineTables, RunState, StepState } from './schema.ts';
import type { SlipwayFile } from './slipway-file.ts';
import { createWorkspace } from './workspace.ts';

/** The job queue's name for runs. */
export const RUN_QUEUE = 'pipelines.run';

/** Where the executor keeps its files. */
export interface ExecutorPaths {
  /** Git mirrors (readable by Slipway only). */
  readonly mirrors: string;
  /** Fresh workspaces, one per attempt of a run. */
  readonly builds: string;
  /** Caches kept between runs of an app (npm's, composer's). */
  readonly caches: string;
  /** Host paths builds must never see. */
  readonly hidden: readonly string[];
}

/** How the executor is set up. */
export interface RunExecutorOptions {
  readonly db: Kysely<any>;
  readonly pool: pg.Pool;
  readonly queue: Pick<JobQueue, 'enqueue' | 'work' | 'wake' | 'jobState'>;
  readonly artifacts: ArtifactRepository;
  readonly steps: readonly PipelineStep[];
  readonly dataDir: string;
  readonly events: RunEvents;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** Runs this control plane executes at once. @default 2 */
  readonly concurrency?: number;
  /** @default 'slipway-build' */
  readonly buildUser?: string;
  /** How often a running run proves it is alive and looks for a cancel. @default 1000 */
  readonly heartbeatMs?: number;
  /** A run whose heartbeat is older than this is taken back. @default 30000 */
  readonly staleAfterMs?: number;
  /** Attempts of a run interrupted by its control plane stopping. @default 2 */
  readonly maxAttempts?: number;
  /** How often the leader looks for stalled runs and runs nobody took. @default 5000 */
  readonly recoveryIntervalMs?: number;
  /** Secret values to keep out of an app's run logs. */
  readonly redactorFor?: (app: AppRow) => Promise<LogRedactor>;
}

/** Why a run's work was aborted. */
type AbortReason = 'cancelled' | 'shutdown' | 'lost' | 'timeout';

interface ActiveRun {
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

/** The file layout under the data directory; workspaces move out of it when builds could not reach it. */
export async function executorPaths(dataDir: string): Promise<ExecutorPaths> {
  const root = join(resolve(dataDir), 'pipelines');
  await mkdir(root, { recursive: true, mode: 0o711 });
  // bubblewrap runs as the build user and must pass through every directory above a workspace.
  const closed = await firstClosedAncestor(root);
  const shared = closed
    ? join('/var/lib/slipway/builds', createHash('sha256').update(root).digest('hex').slice(0, 12))
    : root;
  for (const dir of [join(shared, 'builds'), join(shared, 'caches')]) {
    await mkdir(dir, { recursive: true, mode: 0o711 });
    await chmod(dir, 0o711);
  }
  return {
    mirrors: join(root, 'git'),
    builds: join(shared, 'builds'),
    caches: join(shared, 'caches'),
    hidden: [resolve(dataDir)],
  };
}

/**
 * Executes runs: each is a job of the queue, taken by one control plane, whose steps run in order in a
 * fresh workspace, with a heartbeat. A leader loop takes back runs whose control plane stopped
 * (retried or failed) and dispatches queued runs nobody took.
 */
export class RunExecutor {
  readonly runner = `${hostname()}:${process.pid}:${randomToken(4)}`;
  readonly #options: RunExecutorOptions;
  readonly #active = new Map<string, ActiveRun>();
  #paths: ExecutorPaths | undefined;
  #user: BuildUser | undefined;
  #loop: SingletonLoop | undefined;
  #stopping = false;

  constructor(options: RunExecutorOptions) {
    this.#options = options;
  }

  /** Starts the queue's workers and the recovery loop. */
  async start(): Promise<void> {
    this.#paths = await executorPaths(this.#options.dataDir);
    const concurrency = this.#options.concurrency ?? 2;
    for (let i = 0; i < concurrency; i++) {
      await this.#options.queue.work<{ runId: string; attempt: number }>(
        RUN_QUEUE,
        (job) => this.execute(job.data.runId, job.data.attempt),
        { batchSize: 1, pollingIntervalSeconds: 2 },
      );
    }
    this.#loop = startSingletonLoop(this.#options.pool, {
      name: 'pipelines-recovery',
      intervalMs: this.#options.recoveryIntervalMs ?? 5000,
      ...(this.#options.logger ? { logger: this.#options.logger } : {}),
      run: () => this.recover(),
    });
  }

  /** Stops: every run in hand is put back in the queue as a new attempt, then the loop stops. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const active of this.#active.values()) active.controller.abort('shutdown' satisfies AbortReason);
    await Promise.all([...this.#active.values()].map((a) => a.done.catch(() => undefined)));
    await this.#loop?.stop();
  }

  /** Queues the job that executes an attempt of a run, and wakes this process's idle workers. */
  async dispatch(runId: string, attempt: number): Promise<void> {
    const jobId = await this.#options.queue.enqueue(
      RUN_QUEUE,
      { runId, attempt },
      { retryLimit: 0, expireInSeconds: 6 * 3600 },
    );
    await setRunJob(this.#options.db, runId, jobId);
  }

  /** Dispatches queued runs that have room and no live job (a job lost in a crash, a slot freed). */
  async #dispatchRunnable(): Promise<void> {
    for (const run of await runnableRuns(this.#options.db)) {
      const state = run.job_id
        ? await this.#options.queue.jobState(RUN_QUEUE, run.job_id).catch(() => undefined)
        : undefined;
      if (state === 'created' || state === 'active' || state === 'retry') continue;
      await this.dispatch(run.id, run.attempt);
    }
  }

  /** Aborts a run this process executes (a cancel asked here; others notice at their heartbeat). */
  cancelLocal(runId: string): void {
    this.#active.get(runId)?.controller.abort('cancelled' satisfies AbortReason);
  }

  /** One pass of the leader's loop: take back stalled runs, dispatch runnable ones. */
  async recover(): Promise<void> {
    const { db, clock, logger } = this.#options;
    const now = clock.now();
    const recovered = await recoverStaleRuns(db, {
      staleBefore: new Date(now.getTime() - (this.#options.staleAfterMs ?? 30_000)),
      maxAttempts: this.#options.maxAttempts ?? 2,
      now,
    });
    for (const run of recovered) {
      logger?.warn(run, 'took back a run whose control plane stopped');
      const writer = new RunLogWriter({
        db,
        runId: run.runId,
        redact: (t) => t,
        events: this.#options.events,
        clock,
      });
      writer.line(
        null,
        run.outcome === 'retried'
          ? `!! Attempt ${run.attempt} was interrupted: the control plane running it stopped. Retrying (attempt ${run.attempt + 1}).`
          : `!! Attempt ${run.attempt} was interrupted: the control plane running it stopped. Giving up.`,
      );
      await writer.flush();
    }
    await this.#dispatchRunnable();
  }

  /** Runs one attempt of a run when it can be claimed; returns when it ended. */
  async execute(runId: string, attempt: number): Promise<void> {
    if (this.#stopping) return;
    const { db, clock } = this.#options;
    const claim = await claimRun(db, { runId, attempt, runner: this.runner, now: clock.now() });
    if (!claim.claimed) return;
    const controller = new AbortController();
    let finished!: () => void;
    const done = new Promise<void>((resolve) => {
      finished = resolve;
    });
    this.#active.set(runId, { controller, done });
    try {
      await this.#run(claim.run, controller);
    } finally {
      this.#active.delete(runId);
      finished();
      if (!this.#stopping) {
        // A slot of the app is free: start what waits for it.
        await this.#dispatchRunnable().catch((error) =>
          this.#options.logger?.warn({ err: error }, 'cannot dispatch waiting runs'),
        );
      }
    }
  }

  async #run(run: RunRow, controller: AbortController): Promise<void> {
    const { db, clock, logger, events } = this.#options;
    const app = (await (db as Kysely<PipelineTables>)
      .selectFrom('pipeline_apps')
      .selectAll()
      .where('id', '=', run.app_id)
      .executeTakeFirst()) as AppRow | undefined;
    const redact = app && this.#options.redactorFor ? await this.#options.redactorFor(app) : (t: string) => t;
    const log = new RunLogWriter({ db, runId: run.id, redact, events, clock, ...(logger ? { logger } : {}) });
    const beat = setInterval(() => {
      void heartbeat(db, { runId: run.id, runner: this.runner, now: clock.now() })
        .then(({ held, cancelRequested }) => {
          if (!held) controller.abort('lost' satisfies AbortReason);
          else if (cancelRequested) controller.abort('cancelled' satisfies AbortReason);
        })
        .catch(() => undefined);
    }, this.#options.heartbeatMs ?? 1000);
    const workDir = join(this.#paths!.builds, `${run.id}-${run.attempt}`);
    let state: RunState = 'succeeded';
    let error: string | null = null;
    try {
      if (!app) throw new StepFailedError('The app of this run was deleted');
      log.line(
        null,
        `== Run ${run.app}/${run.number} (attempt ${run.attempt}) of ${run.commit.slice(0, 12)} on ${run.branch}, by ${this.runner}`,
      );
      this.#user ??= await ensureBuildUser(this.#options.buildUser, logger);
      ({ state, error } = await this.#steps(run, app, controller.signal, log, workDir));
    } catch (failure) {
      state = 'failed';
      error = messageOf(failure);
      log.line(null, `!! ${error}`);
    } finally {
      clearInterval(beat);
    }
    const reason = controller.signal.reason as AbortReason | undefined;
    if (reason === 'shutdown' && state !== 'succeeded') {
      log.line(null, '!! The control plane is stopping: this run goes back to the queue as a new attempt');
      await log.flush();
      await requeueRun(db, { runId: run.id, runner: this.runner, now: clock.now() });
    } else if (reason === 'lost') {
      log.line(null, '!! Another control plane took this run over');
      await log.flush();
    } else {
      log.line(null, `== Run ${state}${error ? `: ${error}` : ''}`);
      await log.flush();
      await finishRun(db, { runId: run.id, runner: this.runner, state, error, now: clock.now() });
    }
    events.notify(run.id);
    await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  }

  async #steps(
    run: RunRow,
    app: AppRow,
    signal: AbortSignal,
    log: RunLogWriter,
    workDir: string,
  ): Promise<{ state: RunState; error: string | null }> {
    const { db, clock, events } = this.#options;
    const loaded = (await loadRun(db, run.id))!;
    const definitions = new Map(this.#options.steps.map((step) => [step.name, step]));
    // A retried run keeps what a durable step did; everything after it runs again.
    let resumeAfter = -1;
    for (const step of loaded.steps) {
      if (step.state === 'succeeded' && definitions.get(step.name)?.durable) resumeAfter = step.position;
    }
    for (const step of loaded.steps) {
      if (step.position > resumeAfter && step.state !== 'pending') {
        await setStepState(db, run.id, step.position, { state: 'pending', error: null });
      }
    }
    const outputs: Record<string, Record<string, unknown>> = {
      ...(loaded.row.outputs as Record<string, any>),
    };
    let currentStep: string | null = null;
    let currentSignal: AbortSignal | undefined;
    const workspace = await createWorkspace({
      run,
      app,
      workDir,
      paths: this.#paths!,
      user: this.#user!,
      log,
      current: () => ({ step: currentStep, signal: currentSignal }),
    });
    let slipwayFile = (outputs.checkout?.slipwayFile as SlipwayFile | undefined) ?? undefined;
    let result: { state: RunState; error: string | null } = { state: 'succeeded', error: null };
    const remaining = loaded.steps.filter((step) => step.position > resumeAfter);
    if (resumeAfter >= 0 && remaining.length > 0 && outputs.checkout) {
      // Resuming after a durable step (the artifact is published): the steps left still get the
      // commit's tree in their fresh workspace, though not what the build made.
      log.line(
        null,
        `== Resuming after "${loaded.steps[resumeAfter]?.title}": checking the commit out again`,
      );
      await workspace.checkout();
    }

    for (const step of loaded.steps) {
      if (step.position <= resumeAfter) continue;
      const definition = definitions.get(step.name);
      if (result.state !== 'succeeded' || signal.aborted) {
        await setStepState(db, run.id, step.position, {
          state: signal.reason === 'cancelled' ? 'cancelled' : 'skipped',
        });
        continue;
      }
      currentStep = step.name;
      const timeoutMs = definition?.timeoutMs(slipwayFile) ?? step.timeout_ms;
      await setStepState(db, run.id, step.position, {
        state: 'running',
        timeoutMs,
        startedAt: clock.now(),
        error: null,
      });
      events.notify(run.id);
      log.line(step.name, `-- ${step.title} (timeout ${formatMs(timeoutMs)})`);
      const started = performance.now();
      const stepController = new AbortController();
      const onRunAbort = () => stepController.abort(signal.reason);
      signal.addEventListener('abort', onRunAbort, { once: true });
      const timer = setTimeout(() => stepController.abort('timeout' satisfies AbortReason), timeoutMs);
      currentSignal = stepController.signal;
      let stepState: StepState = 'succeeded';
      let stepError: string | null = null;
      try {
        if (!definition) {
          throw new StepFailedError(`This control plane does not know the step "${step.name}"`, {
            hint: 'Run it on a control plane of the same version, or re-run the run',
          });
        }
        const context: StepContext = {
          run: runInfo(run),
          app: appInfo(app),
          db,
          signal: stepController.signal,
          log: (text) => log.write(step.name, text),
          outputs,
          async setOutput(values) {
            outputs[step.name] = values;
            await setRunOutput(db, run.id, step.name, values);
          },
          slipwayFile,
          workspace,
          services: {
            artifacts: this.#options.artifacts,
            clock,
            ...(this.#options.logger ? { logger: this.#options.logger } : {}),
          },
        };
        const outcome = await definition.run(context);
        if (stepController.signal.aborted) throw new Error('aborted');
        if (outcome === 'skipped') stepState = 'skipped';
        if (step.name === 'checkout') slipwayFile = outputs.checkout?.slipwayFile as SlipwayFile | undefined;
      } catch (failure) {
        const reason = stepController.signal.reason as AbortReason | undefined;
        if (reason === 'timeout') {
          stepState = 'failed';
          stepError = `timed out after ${formatMs(timeoutMs)}`;
        } else if (reason === 'cancelled') {
          stepState = 'cancelled';
          stepError = 'cancelled';
        } else if (reason === 'shutdown' || reason === 'lost') {
          stepState = 'failed';
          stepError = 'interrupted: the control plane was stopping';
        } else {
          stepState = 'failed';
          stepError = messageOf(failure);
          if (failure instanceof SlipwayError && failure.hint) log.line(step.name, `   ${failure.hint}`);
        }
      } finally {
        clearTimeout(timer);
        signal.removeEventListener('abort', onRunAbort);
      }
      log.line(
        step.name,
        `-- ${step.title}: ${stepState}${stepError ? `: ${stepError}` : ''} (${formatMs(performance.now() - started)})`,
      );
      await log.flush();
      await setStepState(db, run.id, step.position, {
        state: stepState,
        finishedAt: clock.now(),
        error: stepError,
      });
      events.notify(run.id);
      if (stepState === 'failed') result = { state: 'failed', error: `${step.title}: ${stepError}` };
      if (stepState === 'cancelled') result = { state: 'cancelled', error: 'cancelled' };
    }
    currentStep = null;
    currentSignal = undefined;
    return result;
  }
}

function runInfo(run: RunRow): RunInfo {
  return {
    id: run.id,
    app: run.app,
    number: run.number,
    commit: run.commit,
    branch: run.branch,
    attempt: run.attempt,
    trigger: run.trigger,
    triggeredBy: run.triggered_by,
  };
}

function appInfo(app: AppRow): AppInfo {
  return {
    id: app.id,
    name: app.name,
    repository: app.repository,
    branch: app.branch,
    path: app.path,
    network: app.network,
    retentionKeep: app.retention_keep,
  };
}

function messageOf(error: unknown): string {
  if (error instanceof SlipwayError) return error.message;
  if (error instanceof Error) return `internal error: ${error.message}`;
  return String(error);
}
