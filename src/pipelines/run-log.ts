import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import type { Clock, Logger } from '../core/index.ts';
import type { LogChunk, PipelineTables } from './schema.ts';

/** Removes secret values from log text (see the secrets module's `createRedactor`). */
export type LogRedactor = (text: string) => string;

/**
 * Tells followers of a run's log in this process that something changed (a new piece of log, a
 * step's state), so a live view moves at once rather than at its next poll.
 */
export class RunEvents {
  readonly #emitter = new EventEmitter().setMaxListeners(0);

  /** Wakes everybody waiting on this run. */
  notify(runId: string): void {
    this.#emitter.emit(runId);
  }

  /** Resolves at the next change of the run, after `timeoutMs`, or when `signal` aborts. */
  wait(runId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#emitter.off(runId, done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#emitter.once(runId, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

/** Longest a partial line is held back before it is written anyway. */
const MAX_HELD = 16 * 1024;
/** How often buffered output is written. */
const FLUSH_MS = 150;
/** How long a partial line (a prompt, a progress bar) waits for its newline before it is written anyway. */
const PARTIAL_LINE_MS = 3000;

/**
 * Writes one run's log: output is cut into lines, redacted line by line (so a secret is caught even
 * when it arrives in two pieces), and stored in batches with the run; followers are woken on each
 * batch.
 */
export class RunLogWriter {
  readonly #db: Kysely<any>;
  readonly #runId: string;
  readonly #redact: LogRedactor;
  readonly #events: RunEvents;
  readonly #clock: Clock;
  readonly #logger?: Logger;
  #held = '';
  #heldSince = 0;
  #heldStep: string | null = null;
  #pending: { step: string | null; at: Date; text: string }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(options: {
    db: Kysely<any>;
    runId: string;
    redact: LogRedactor;
    events: RunEvents;
    clock: Clock;
    logger?: Logger;
  }) {
    this.#db = options.db;
    this.#runId = options.runId;
    this.#redact = options.redact;
    this.#events = options.events;
    this.#clock = options.clock;
    this.#logger = options.logger;
  }

  /** Adds output of a step (any text; lines complete when their newline arrives). */
  write(step: string | null, text: string): void {
    if (step !== this.#heldStep && this.#held) this.#release(true);
    this.#heldStep = step;
    if (!this.#held) this.#heldSince = Date.now();
    this.#held += text;
    this.#release(this.#held.length > MAX_HELD);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      // Complete lines go now; a partial one waits a little for the rest of it (a secret may be split).
      void this.#store(Date.now() - this.#heldSince > PARTIAL_LINE_MS);
      if (this.#held) this.write(this.#heldStep, '');
    }, FLUSH_MS);
  }

  /** Adds whole lines of Slipway's own (step headers, results). */
  line(step: string | null, text: string): void {
    this.write(step, `${text}\n`);
  }

  #release(all: boolean): void {
    const cut = all ? this.#held.length : this.#held.lastIndexOf('\n') + 1;
    if (cut <= 0) return;
    const text = this.#held.slice(0, cut);
    this.#held = this.#held.slice(cut);
    this.#heldSince = Date.now();
    this.#pending.push({ step: this.#heldStep, at: this.#clock.now(), text: this.#redact(text) });
  }

  /** Stores everything written so far, partial lines included. */
  async flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    await this.#store(true);
  }

  async #store(partial: boolean): Promise<void> {
    this.#release(partial);
    const batch = this.#pending.splice(0);
    // One write at a time, in order: the log's sequence numbers follow the output.
    this.#writing = this.#writing.then(async () => {
      if (batch.length === 0) return;
      const merged: typeof batch = [];
      for (const chunk of batch) {
        const last = merged.at(-1);
        if (last && last.step === chunk.step && last.text.length + chunk.text.length < 64 * 1024) {
          last.text += chunk.text;
        } else {
          merged.push({ ...chunk });
        }
      }
      try {
        await appendLogs(this.#db, this.#runId, merged);
      } catch (error) {
        this.#logger?.warn({ err: error, run: this.#runId }, 'cannot store a piece of a run log');
      }
      this.#events.notify(this.#runId);
    });
    await this.#writing;
  }
}

/** Appends pieces of a run's log. */
export async function appendLogs(
  db: Kysely<any>,
  runId: string,
  chunks: readonly { step: string | null; at: Date; text: string }[],
): Promise<void> {
  if (chunks.length === 0) return;
  await (db as Kysely<PipelineTables>)
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
  const rows = await (db as Kysely<PipelineTables>)
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
