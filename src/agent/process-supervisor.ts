import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { ProcessSpec } from './desired-state.ts';
import { HealthProbe } from './health-probe.ts';
import { residentBytes } from './host-metrics.ts';
import { type ProcessReport, ProcessState } from './report.ts';
import { RotatingLog } from './rotating-log.ts';
import { resolveUser } from './users.ts';

/** What a supervisor needs from the agent. */
export interface SupervisorOptions {
  /** Where `<name>.log` goes. */
  readonly logDirectory: string;
  /** Called whenever the state or health changes (the agent reports soon after). */
  readonly onChange: () => void;
}

/**
 * Supervises one process: starts it in its own process group, restarts it with exponential backoff
 * when it exits (the delay resets after a long enough run), stops it gracefully (its stop signal to
 * the whole group, SIGKILL after the stop timeout), captures its output into a rotated log and runs
 * its health check.
 */
export class ProcessSupervisor {
  readonly spec: ProcessSpec;
  readonly #options: SupervisorOptions;
  readonly #log: RotatingLog;
  readonly #probe: HealthProbe | undefined;
  #child: ChildProcess | undefined;
  #state: ProcessState = ProcessState.Stopped;
  #startedAt: number | undefined;
  #restarts = 0;
  #delayMs = 0;
  #nextStartAt: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastExit: ProcessReport['lastExit'] = null;
  #message: string | null = null;
  #wanted = false;
  #exited: Promise<void> = Promise.resolve();

  constructor(spec: ProcessSpec, options: SupervisorOptions) {
    this.spec = spec;
    this.#options = options;
    this.#log = new RotatingLog(
      join(options.logDirectory, `${spec.name.replace(/[^A-Za-z0-9._@-]/g, '_')}.log`),
      spec.logs,
    );
    this.#probe = spec.healthCheck ? new HealthProbe(spec.healthCheck, options.onChange) : undefined;
  }

  /** Starts the process and keeps it running until `stop()`. */
  start(): void {
    this.#wanted = true;
    this.#delayMs = 0;
    this.#spawn();
  }

  /** Stops the process: its stop signal to the group, then SIGKILL after the stop timeout. */
  async stop(): Promise<void> {
    this.#wanted = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#nextStartAt = undefined;
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.#setState(ProcessState.Stopped);
      this.#log.close();
      return;
    }
    this.#setState(ProcessState.Stopping);
    this.#probe?.stop();
    this.#signal(child, this.spec.stopSignal);
    const killer = setTimeout(() => {
      this.#line(
        `did not stop within ${this.spec.stopTimeoutMs}ms of ${this.spec.stopSignal}: sending SIGKILL`,
      );
      this.#signal(child, 'SIGKILL');
    }, this.spec.stopTimeoutMs);
    await this.#exited;
    clearTimeout(killer);
    this.#log.close();
  }

  /** What the agent reports about this process. */
  get report(): ProcessReport {
    const pid = this.#child?.pid ?? null;
    const alive = this.#state === ProcessState.Running || this.#state === ProcessState.Stopping;
    return {
      name: this.spec.name,
      state: this.#state,
      pid: alive ? pid : null,
      startedAt: alive && this.#startedAt ? new Date(this.#startedAt).toISOString() : null,
      restarts: this.#restarts,
      lastExit: this.#lastExit,
      backoffMs: this.#state === ProcessState.Backoff ? this.#delayMs : 0,
      nextStartAt: this.#nextStartAt ? new Date(this.#nextStartAt).toISOString() : null,
      health: this.#probe ? this.#probe.report : { status: 'none', checkedAt: null, message: null },
      rssBytes: alive && pid ? (residentBytes(pid) ?? null) : null,
      message: this.#message,
    };
  }

  #spawn(): void {
    if (!this.#wanted) return;
    this.#timer = undefined;
    this.#nextStartAt = undefined;
    const [program, ...args] = this.spec.command;
    let identity: { uid: number; gid: number } | undefined;
    try {
      identity = this.spec.user ? resolveUser(this.spec.user) : undefined;
    } catch (error) {
      this.#message = (error as Error).message;
      this.#setState(ProcessState.Failed);
      return;
    }
    this.#setState(ProcessState.Starting);
    const child = spawn(program!, args, {
      cwd: this.spec.cwd ?? undefined,
      env: { ...this.spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so a stop reaches its children too
      ...(identity ? { uid: identity.uid, gid: identity.gid } : {}),
    });
    this.#child = child;
    let resolveExit: () => void = () => undefined;
    this.#exited = new Promise((resolve) => {
      resolveExit = resolve;
    });
    child.stdout?.on('data', (chunk: Buffer) => this.#log.write(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.#log.write(chunk));
    child.once('spawn', () => {
      this.#startedAt = Date.now();
      this.#message = null;
      this.#line(`started (pid ${child.pid})`);
      if (this.#wanted) {
        this.#setState(ProcessState.Running);
        this.#probe?.start();
      } else {
        this.#signal(child, this.spec.stopSignal);
      }
    });
    let ended = false;
    const end = (code: number | null, signal: NodeJS.Signals | null) => {
      if (ended) return;
      ended = true;
      this.#afterExit(code, signal, resolveExit);
    };
    child.once('error', (error) => {
      // spawn failed (no such program, permission); an 'exit' may or may not follow
      this.#message = `cannot start: ${error.message}`;
      this.#line(this.#message);
      end(null, null);
    });
    child.once('exit', (code, signal) => end(code, signal));
  }

  #afterExit(code: number | null, signal: NodeJS.Signals | null, resolveExit: () => void): void {
    const ranMs = this.#startedAt ? Date.now() - this.#startedAt : 0;
    this.#startedAt = undefined;
    this.#probe?.stop();
    this.#lastExit = { code, signal, at: new Date().toISOString() };
    if (code !== null || signal !== null)
      this.#line(`exited (${signal ? `signal ${signal}` : `code ${code}`})`);
    resolveExit();
    const restart = this.spec.restart;
    const failed = code !== 0 || signal !== null;
    if (!this.#wanted) {
      this.#setState(ProcessState.Stopped);
      return;
    }
    if (restart.policy === 'never' || (restart.policy === 'on-failure' && !failed)) {
      this.#wanted = false;
      this.#setState(failed ? ProcessState.Failed : ProcessState.Stopped);
      return;
    }
    this.#restarts += 1;
    this.#delayMs =
      ranMs >= restart.resetAfterMs || this.#delayMs === 0
        ? restart.initialDelayMs
        : Math.min(this.#delayMs * 2, restart.maxDelayMs);
    this.#nextStartAt = Date.now() + this.#delayMs;
    this.#setState(ProcessState.Backoff);
    this.#timer = setTimeout(() => this.#spawn(), this.#delayMs);
  }

  #signal(child: ChildProcess, signal: NodeJS.Signals): void {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  }

  #line(text: string): void {
    this.#log.write(`[slipway-agent ${new Date().toISOString()}] ${this.spec.name}: ${text}\n`);
  }

  #setState(state: ProcessState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#options.onChange();
  }
}
