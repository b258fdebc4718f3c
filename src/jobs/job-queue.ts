import { CompiledQuery, type Kysely } from 'kysely';
import PgBoss from 'pg-boss';
import type { Logger } from '../core/index.ts';
import { type ConnectionSettings, toPgConfig } from '../store/index.ts';

/** Options for enqueuing a job. */
export interface EnqueueOptions {
  /** Only one queued job per key (an existing one wins). */
  readonly singletonKey?: string;
  /** Run no earlier than this. */
  readonly startAfter?: Date;
  /** Attempts after the first failure. @default 2 */
  readonly retryLimit?: number;
  /** Seconds between attempts, doubled each time. @default 5 */
  readonly retryDelaySeconds?: number;
  /** Give up on an attempt after this many seconds. @default 900 */
  readonly expireInSeconds?: number;
  /**
   * Enqueue inside this transaction, so the job exists only if the transaction commits. Local
   * workers are woken by the caller's `queue.wake(name)` after the commit.
   */
  readonly transaction?: Kysely<any>;
}

/** Options for a worker. */
export interface WorkOptions {
  /** Jobs fetched and handled together. @default 1 */
  readonly batchSize?: number;
  /** How often an idle worker looks for jobs. @default 2 */
  readonly pollingIntervalSeconds?: number;
}

/** A job handed to a handler. */
export interface Job<T> {
  readonly id: string;
  readonly name: string;
  readonly data: T;
  /** 1 for the first attempt, 2 for the first retry, … */
  readonly attempt: number;
  /** Whether a failure now is final (no retries left). */
  readonly isLastAttempt: boolean;
}

/**
 * The control plane's background work: a PostgreSQL-backed queue (pg-boss) shared by every
 * control-plane replica on the same database. A job is handled by exactly one worker; failures are
 * retried with backoff; work survives restarts.
 */
export class JobQueue {
  readonly #boss: PgBoss;
  readonly #logger?: Logger;
  readonly #workers = new Map<string, string[]>();
  readonly #queues = new Set<string>();

  private constructor(boss: PgBoss, logger?: Logger) {
    this.#boss = boss;
    this.#logger = logger;
  }

  /** Connects, creates or migrates the queue's schema, and starts maintenance. */
  static async start(
    settings: ConnectionSettings,
    options: { logger?: Logger; schema?: string } = {},
  ): Promise<JobQueue> {
    const pgConfig = toPgConfig(settings, { maxConnections: 4, applicationName: 'slipway-jobs' });
    const boss = new PgBoss({
      ...(pgConfig as PgBoss.ConstructorOptions),
      schema: options.schema ?? 'pgboss',
      // The supervisor (maintenance and monitoring) runs on every replica; pg-boss takes its own lock.
      supervise: true,
      schedule: false,
    });
    boss.on('error', (error) => options.logger?.warn({ err: error }, 'job queue error'));
    await boss.start();
    return new JobQueue(boss, options.logger);
  }

  /** Creates a queue once; idempotent. */
  async #ensureQueue(name: string): Promise<void> {
    if (this.#queues.has(name)) return;
    if (!(await this.#boss.getQueue(name))) {
      await this.#boss.createQueue(name).catch(async (error: unknown) => {
        // Two replicas can race to create the same queue; the loser finds it there.
        if (!(await this.#boss.getQueue(name))) throw error;
      });
    }
    this.#queues.add(name);
  }

  /** Adds a job; returns its id, or null when a singleton key already has a queued job. */
  async enqueue<T extends object>(
    name: string,
    data: T,
    options: EnqueueOptions = {},
  ): Promise<string | null> {
    await this.#ensureQueue(name);
    const sendOptions: PgBoss.SendOptions = {
      retryLimit: options.retryLimit ?? 2,
      retryDelay: options.retryDelaySeconds ?? 5,
      retryBackoff: true,
      expireInSeconds: options.expireInSeconds ?? 900,
      ...(options.singletonKey ? { singletonKey: options.singletonKey } : {}),
      ...(options.startAfter ? { startAfter: options.startAfter } : {}),
      ...(options.transaction ? { db: kyselyAdapter(options.transaction) } : {}),
    };
    const id = await this.#boss.send(name, data, sendOptions);
    if (!options.transaction) this.wake(name);
    return id;
  }

  /** Wakes this process's idle workers of a queue, so a new job starts without waiting for a poll. */
  wake(name: string): void {
    for (const id of this.#workers.get(name) ?? []) this.#boss.notifyWorker(id);
  }

  /** Handles jobs of a queue; a thrown error fails the attempt and schedules a retry. */
  async work<T>(
    name: string,
    handler: (job: Job<T>) => Promise<void>,
    options: WorkOptions = {},
  ): Promise<void> {
    await this.#ensureQueue(name);
    const id = await this.#boss.work<T>(
      name,
      {
        batchSize: options.batchSize ?? 1,
        pollingIntervalSeconds: options.pollingIntervalSeconds ?? 2,
        includeMetadata: true,
      },
      async (jobs) => {
        for (const job of jobs) {
          try {
            await handler({
              id: job.id,
              name: job.name,
              data: job.data,
              attempt: job.retryCount + 1,
              isLastAttempt: job.retryCount >= job.retryLimit,
            });
          } catch (error) {
            this.#logger?.warn({ err: error, job: job.id, queue: name }, 'job failed');
            throw error;
          }
        }
      },
    );
    this.#workers.set(name, [...(this.#workers.get(name) ?? []), id]);
  }

  /** The state of one job, or undefined when it is unknown. */
  async jobState(name: string, id: string): Promise<string | undefined> {
    const job = await this.#boss.getJobById(name, id);
    return job?.state;
  }

  /** Stops fetching, waits for running jobs up to `timeoutMs`, and closes connections. */
  async stop(timeoutMs = 10_000): Promise<void> {
    await this.#boss.stop({ graceful: true, wait: true, timeout: timeoutMs });
  }
}

/** Lets pg-boss write through a Kysely connection or transaction. */
function kyselyAdapter(db: Kysely<any>): PgBoss.Db {
  return {
    async executeSql(text, values) {
      const result = await db.executeQuery(CompiledQuery.raw(text, values));
      return { rows: result.rows as any[] };
    },
  };
}
