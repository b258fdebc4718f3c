import { request } from 'node:http';
import type { ProcessHealthCheck } from './desired-state.ts';
import type { HealthReport } from './report.ts';

/** One HTTP GET against 127.0.0.1; resolves with an error message, or undefined when healthy (2xx/3xx). */
export function probeOnce(check: ProcessHealthCheck): Promise<string | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (message: string | undefined) => {
      if (settled) return;
      settled = true;
      resolve(message);
    };
    const req = request(
      {
        host: '127.0.0.1',
        port: check.port,
        path: check.path,
        method: 'GET',
        timeout: check.timeoutMs,
        agent: false,
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        done(status >= 200 && status < 400 ? undefined : `GET ${check.path} answered ${status}`);
      },
    );
    req.on('timeout', () => {
      req.destroy();
      done(`GET ${check.path} took longer than ${check.timeoutMs}ms`);
    });
    req.on('error', (error) => done(`GET ${check.path} failed: ${error.message}`));
    req.end();
  });
}

/**
 * Runs a health check every `intervalMs` while started: healthy after `rise` passes in a row,
 * unhealthy after `fall` failures in a row, unknown until then.
 */
export class HealthProbe {
  readonly #check: ProcessHealthCheck;
  readonly #onChange: () => void;
  #timer: NodeJS.Timeout | undefined;
  #passes = 0;
  #failures = 0;
  #status: HealthReport['status'] = 'unknown';
  #checkedAt: string | null = null;
  #message: string | null = null;
  #running = false;

  constructor(check: ProcessHealthCheck, onChange: () => void) {
    this.#check = check;
    this.#onChange = onChange;
  }

  /** Starts checking (from "unknown"). */
  start(): void {
    this.stop();
    this.#running = true;
    this.#passes = 0;
    this.#failures = 0;
    this.#set('unknown', null);
    this.#schedule(Math.min(250, this.#check.intervalMs));
  }

  /** Stops checking; the status becomes "unknown". */
  stop(): void {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#set('unknown', null);
  }

  /** What the checks say now. */
  get report(): HealthReport {
    return { status: this.#status, checkedAt: this.#checkedAt, message: this.#message };
  }

  #schedule(delay: number): void {
    this.#timer = setTimeout(() => void this.#tick(), delay);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    const message = await probeOnce(this.#check);
    if (!this.#running) return;
    this.#checkedAt = new Date().toISOString();
    if (message === undefined) {
      this.#passes += 1;
      this.#failures = 0;
      if (this.#passes >= this.#check.rise) this.#set('healthy', null);
    } else {
      this.#failures += 1;
      this.#passes = 0;
      if (this.#failures >= this.#check.fall) this.#set('unhealthy', message);
      else this.#message = message;
    }
    this.#schedule(this.#check.intervalMs);
  }

  #set(status: HealthReport['status'], message: string | null): void {
    const changed = status !== this.#status;
    this.#status = status;
    this.#message = message;
    if (changed) this.#onChange();
  }
}
