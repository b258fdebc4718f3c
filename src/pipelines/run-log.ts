import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import type { Clock, Logger } from '../core/index.ts';
import { appendLogs } from './runs.ts';

/** Removes secret values from log text. */
export type LogRedactor = (text: string) => string;

/**
 * A redactor for a set of values: each value (at least 4 characters) is replaced by `[redacted]`.
 * @see The secrets module's `createRedactor`, which also catches JSON-escaped and URL-encoded forms.
 */
export function redactValues(values: readonly (string | null | undefined)[]): LogRedactor {
  const secrets = [
    ...new Set(values.filter((v): v is string => typeof v === 'string' && v.length >= 4)),
  ].sort((a, b) => b.length - a.length);
  if (secrets.length === 0) return (text) => text;
  return (text) => {
    let result = text;
    for (const secret of secrets) result = result.split(secret).join('[redacted]');
    return result;
  };
}

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
    this.#held += text;
    this.#release(this.#held.length > MAX_HELD);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
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
    this.#pending.push({ step: this.#heldStep, at: this.#clock.now(), text: this.#redact(text) });
  }

  /** Stores everything written so far, partial lines included. */
  async flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#release(true);
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
