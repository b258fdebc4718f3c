import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { ArtifactRepository } from '../artifacts/index.ts';
import { type Clock, type Logger, UnavailableError } from '../core/index.ts';
import { type JobQueue, type SingletonLoop, startSingletonLoop } from '../jobs/index.ts';
import { createRedactor } from '../secrets/index.ts';
import { type AppSecretCipher, AppSecrets } from './app-secrets.ts';
import { type AppRow, findApp, getApp } from './apps.ts';
import { BUILD_STEPS } from './build-steps.ts';
import { RunExecutor } from './executor.ts';
import { remoteBranchHead } from './git.ts';
import type { PipelineStep } from './pipeline-step.ts';
import { type LogRedactor, RunEvents, readLogs } from './run-log.ts';
import {
  findRun,
  loadRun,
  type PlannedStep,
  type QueueRunResult,
  queueRun,
  requestCancel,
  runIdOf,
  toRun,
} from './runs.ts';
import {
  FINISHED_RUN_STATES,
  type LogChunk,
  type PipelineTables,
  type Run,
  type TriggerKind,
} from './schema.ts';

/** How the pipelines service is set up. */
export interface PipelinesServiceOptions {
  readonly db: Kysely<any>;
  readonly pool: pg.Pool;
  readonly queue: Pick<JobQueue, 'enqueue' | 'work' | 'wake' | 'jobState'>;
  readonly artifacts: ArtifactRepository;
  /** Seals apps' webhook and hook secrets at rest (`appSecretCipher(vault)`). */
  readonly secretCipher: AppSecretCipher;
  readonly dataDir: string;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** The steps of every run. @default BUILD_STEPS */
  readonly steps?: readonly PipelineStep[];
  /** Runs this control plane executes at once. @default 2 */
  readonly buildConcurrency?: number;
  /** @default 'slipway-build' */
  readonly buildUser?: string;
  /** How often the leader looks for apps due to be polled. @default 5000 */
  readonly pollTickMs?: number;
  /** Secret values to keep out of an app's logs; by default its webhook and hook secrets. */
  readonly redactorFor?: (app: AppRow) => Promise<LogRedactor>;
}

/**
 * What an app's run logs never show by default: its own webhook and hook secrets. Builds get no other
 * secrets yet; when they do, `redactorFor` adds them (the secrets module's `redactorForEnvironment`).
 * Builds are never given these two, so while the secret store is sealed (they cannot be opened) the
 * run goes on without them in the redactor.
 */
async function defaultRedactor(app: AppRow, secrets: AppSecrets, logger?: Logger): Promise<LogRedactor> {
  const keys = await secrets.keys(app, `open the secrets of app "${app.name}"`).catch((error) => {
    logger?.warn({ app: app.name, code: error?.code }, "cannot open the app's secrets to redact its run log");
    return undefined;
  });
  const values: Record<string, string> = {};
  if (keys) values.WEBHOOK_SECRET = keys.webhookSecret;
  if (keys?.hookSecret) values.HOOK_SECRET = keys.hookSecret;
  const redactor = createRedactor(values);
  return (text) => redactor.redact(text);
}

/** What a live log view receives. */
export type RunEvent =
  | { readonly type: 'log'; readonly chunk: LogChunk }
  | { readonly type: 'run'; readonly run: Run }
  | { readonly type: 'end'; readonly run: Run };

/**
 * The pipelines of the control plane: triggers queue runs, the executor runs them, polling watches
 * repositories without webhooks, and live views follow a run's log.
 */
export class PipelinesService {
  readonly events = new RunEvents();
  readonly executor: RunExecutor;
  readonly steps: readonly PipelineStep[];
  /** Apps' webhook and hook secrets, sealed at rest. */
  readonly secrets: AppSecrets;
  readonly #options: PipelinesServiceOptions;
  #pollLoop: SingletonLoop | undefined;
  readonly #followers = new Set<AbortController>();

  constructor(options: PipelinesServiceOptions) {
    this.#options = options;
    this.steps = options.steps ?? BUILD_STEPS;
    const names = this.steps.map((s) => s.name);
    const twice = names.find((name, i) => names.indexOf(name) !== i);
    if (twice) throw new Error(`Two pipeline steps are named "${twice}"`);
    this.secrets = new AppSecrets(options.secretCipher, options.logger ? { logger: options.logger } : {});
    this.executor = new RunExecutor({
      db: options.db,
      pool: options.pool,
      queue: options.queue,
      artifacts: options.artifacts,
      steps: this.steps,
      dataDir: options.dataDir,
      events: this.events,
      clock: options.clock,
      redactorFor: options.redactorFor ?? ((app) => defaultRedactor(app, this.secrets, options.logger)),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.buildConcurrency ? { concurrency: options.buildConcurrency } : {}),
      ...(options.buildUser ? { buildUser: options.buildUser } : {}),
    });
  }

  get artifacts(): ArtifactRepository {
    return this.#options.artifacts;
  }

  /** Starts executing runs and polling repositories. */
  async start(): Promise<void> {
    await this.#sealPlaintextSecrets();
    await this.executor.start();
    this.#pollLoop = startSingletonLoop(this.#options.pool, {
      name: 'pipelines-poll',
      intervalMs: this.#options.pollTickMs ?? 5000,
      ...(this.#options.logger ? { logger: this.#options.logger } : {}),
      run: async (signal) => {
        // Secrets stored in plain text by an older version are sealed as soon as the store is unsealed.
        await this.#sealPlaintextSecrets();
        await this.pollDueApps(signal);
      },
    });
  }

  async #sealPlaintextSecrets(): Promise<void> {
    await this.secrets.sealPlaintext(this.#options.db).catch((error) => {
      this.#options.logger?.warn({ err: error }, 'cannot seal app secrets stored in plain text');
    });
  }

  /** Ends live views, hands runs in flight back to the queue, stops polling. */
  async stop(): Promise<void> {
    for (const follower of this.#followers) follower.abort();
    await this.#pollLoop?.stop();
    await this.executor.stop();
  }

  /** The steps a new run gets. */
  plannedSteps(): PlannedStep[] {
    return this.steps.map((step) => ({
      name: step.name,
      title: step.title,
      timeoutMs: step.timeoutMs(undefined),
    }));
  }

  /**
   * Queues a run of a commit and dispatches it (see `queueRun` for how duplicates and bursts are
   * handled). Must not be called inside a transaction: the dispatch follows the commit.
   */
  async trigger(input: {
    readonly app: string;
    readonly commit: string;
    readonly branch: string;
    readonly trigger: TriggerKind;
    readonly triggeredBy?: string;
    readonly rerunOf?: number;
  }): Promise<QueueRunResult> {
    const result = await queueRun(this.#options.db, {
      ...input,
      steps: this.plannedSteps(),
      now: this.#options.clock.now(),
    });
    if (result.outcome === 'queued') await this.executor.dispatch(result.run.id, result.run.attempt);
    if (result.outcome !== 'duplicate') {
      this.#options.logger?.info(
        {
          app: input.app,
          run: result.run.number,
          commit: input.commit,
          trigger: input.trigger,
          outcome: result.outcome,
        },
        'run queued',
      );
    }
    return result;
  }

  /**
   * Starts a run of the tracked branch's current head (or a given commit), as a person asked.
   * @throws AppNotFoundError, UnavailableError when the repository cannot be reached
   */
  async startManually(app: string, options: { commit?: string; actor?: string }): Promise<QueueRunResult> {
    const row = await getApp(this.#options.db, app);
    const commit = options.commit ?? (await this.#branchHead(row));
    return this.trigger({
      app,
      commit,
      branch: row.branch,
      trigger: 'manual',
      ...(options.actor ? { triggeredBy: options.actor } : {}),
    });
  }

  async #branchHead(app: AppRow): Promise<string> {
    const head = await remoteBranchHead(app.repository, app.branch, { timeoutMs: 30_000 }).catch((error) => {
      throw new UnavailableError(`Cannot read branch "${app.branch}" of ${app.repository}`, {
        hint: 'Check that the repository is reachable from the server, or give --commit',
        cause: error,
      });
    });
    if (!head) {
      throw new UnavailableError(
        `Cannot start a run: branch "${app.branch}" does not exist in ${app.repository}`,
        {
          hint: `Push the branch first, or change the app's branch`,
          retryable: false,
        },
      );
    }
    return head;
  }

  /**
   * Runs a run's commit again as a new run with a new build number.
   * @throws RunNotFoundError
   */
  async rerun(app: string, number: number, actor?: string): Promise<QueueRunResult> {
    const original = await findRun(this.#options.db, app, number);
    return this.trigger({
      app,
      commit: original.commit,
      branch: original.branch,
      trigger: 'rerun',
      rerunOf: number,
      ...(actor ? { triggeredBy: actor } : {}),
    });
  }

  /**
   * Cancels a run (see `requestCancel`); a run this process executes stops at once.
   * @throws RunNotFoundError, RunFinishedError
   */
  async cancel(db: Kysely<any>, app: string, number: number): Promise<Run> {
    const row = await requestCancel(db, { app, number, now: this.#options.clock.now() });
    this.executor.cancelLocal(row.id);
    this.events.notify(row.id);
    return findRun(db, app, number);
  }

  /** One pass of the poller: every app due for a look at its branch, looked at. */
  async pollDueApps(signal?: AbortSignal): Promise<void> {
    const db = this.#options.db as Kysely<PipelineTables>;
    const now = this.#options.clock.now();
    const apps = await db
      .selectFrom('pipeline_apps')
      .selectAll()
      .where('poll_interval_seconds', 'is not', null)
      .execute();
    for (const app of apps) {
      if (signal?.aborted) return;
      const due =
        !app.last_polled_at ||
        app.last_polled_at.getTime() + (app.poll_interval_seconds ?? 0) * 1000 <= now.getTime();
      if (!due) continue;
      await db.updateTable('pipeline_apps').set({ last_polled_at: now }).where('id', '=', app.id).execute();
      const head = await remoteBranchHead(app.repository, app.branch, {
        timeoutMs: 30_000,
        ...(signal ? { signal } : {}),
      }).catch((error) => {
        this.#options.logger?.warn({ err: error, app: app.name }, 'cannot poll the repository');
        return undefined;
      });
      if (!head || head === app.last_polled_commit) continue;
      await this.trigger({ app: app.name, commit: head, branch: app.branch, trigger: 'poll' });
      await db
        .updateTable('pipeline_apps')
        .set({ last_polled_commit: head })
        .where('id', '=', app.id)
        .execute();
    }
  }

  /**
   * Follows a run: its log from `after` on, a `run` event at each change of state, and `end` once it
   * finished and every line was sent. Other control planes' runs are seen within a second.
   */
  async *follow(
    app: string,
    number: number,
    options: { after?: number; signal?: AbortSignal } = {},
  ): AsyncGenerator<RunEvent> {
    const db = this.#options.db;
    const { id } = await runIdOf(db, app, number);
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    this.#followers.add(controller);
    try {
      let after = options.after ?? 0;
      let shown = '';
      while (!controller.signal.aborted) {
        // The state first: once it is final, every line of the log was written before it.
        const loaded = await loadRun(db, id);
        if (!loaded) return;
        const run = toRun(loaded.row, loaded.steps);
        const chunks = await readLogs(db, id, { after, limit: 1000 });
        for (const chunk of chunks) {
          yield { type: 'log', chunk };
          after = chunk.seq;
        }
        const key = JSON.stringify([run.state, run.version, run.steps.map((s) => s.state)]);
        if (key !== shown) {
          shown = key;
          yield { type: 'run', run };
        }
        if (FINISHED_RUN_STATES.includes(run.state) && chunks.length < 1000) {
          yield { type: 'end', run };
          return;
        }
        if (chunks.length < 1000) await this.events.wait(id, 1000, controller.signal);
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      this.#followers.delete(controller);
    }
  }

  /** An app by name, or undefined (webhooks must not say which apps exist). */
  findApp(name: string): Promise<AppRow | undefined> {
    return findApp(this.#options.db, name);
  }
}
