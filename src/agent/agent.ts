import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ControlPlaneClient, ControlPlaneError } from './control-plane-client.ts';
import {
  type DesiredState,
  parseDesiredState,
  processFingerprint,
  type ReleaseSpec,
} from './desired-state.ts';
import { HostMetricsSampler } from './host-metrics.ts';
import { type Installer, NO_INSTALLER } from './installer.ts';
import { ProcessSupervisor } from './process-supervisor.ts';
import type { AgentReport, TaskReport } from './report.ts';
import { runTask } from './task-runner.ts';

/** How an agent is set up. */
export interface AgentOptions {
  /** The control plane's base URL. */
  readonly server: string;
  /** Where the agent keeps its credential (credential.json, mode 0600). */
  readonly stateDirectory: string;
  /** Where process logs go. */
  readonly logDirectory: string;
  /** A one-time join token, used when the agent has no credential yet. */
  readonly joinToken?: string;
  /** A file holding the join token (deleted once used). @default `${stateDirectory}/join-token` */
  readonly joinTokenFile?: string;
  /** Installs releases. @default NO_INSTALLER */
  readonly installer?: Installer;
  /** Time between two status reports. @default 2000 */
  readonly reportIntervalMs?: number;
  /** How long the control plane may hold a desired-state poll open. @default 20000 */
  readonly pollWaitMs?: number;
  /** The agent's version, reported. */
  readonly version: string;
  /** The agent's own log lines. @default standard error */
  readonly log?: (line: string) => void;
}

interface StoredCredential {
  readonly hostId: string;
  readonly credential: string;
  readonly environment: string;
  readonly host: string;
}

interface JoinAnswer extends StoredCredential {}

interface PollAnswer {
  readonly revision: number;
  readonly document: unknown;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;

/**
 * The host agent: joins with a one-time token, then with its own credential pulls its host's desired
 * state by long-poll, converges to it (install the release, start, replace and stop processes, run
 * tasks) and reports what runs. When the control plane cannot be reached it keeps running the last
 * desired state and tries again with backoff.
 */
export class Agent {
  readonly #options: AgentOptions;
  readonly #client: ControlPlaneClient;
  readonly #instance = randomUUID();
  readonly #startedAt = new Date().toISOString();
  readonly #metrics = new HostMetricsSampler();
  readonly #supervisors = new Map<string, ProcessSupervisor>();
  readonly #tasks = new Map<string, TaskReport>();
  readonly #installer: Installer;
  #current: DesiredState | undefined;
  #pending: DesiredState | undefined;
  #converging: Promise<void> | undefined;
  #appliedRevision: number | null = null;
  #error: string | null = null;
  #release: AgentReport['release'] = { state: 'none', version: null, message: null };
  #installedReleaseId: string | undefined;
  #installAbort: AbortController | undefined;
  #stopped = false;
  #reportTimer: NodeJS.Timeout | undefined;
  #reportSoonTimer: NodeJS.Timeout | undefined;
  #reporting = false;
  #connected = false;
  /** Reports wait for a credential: a report without one is a refused call in the audit log. */
  #authenticated = false;
  #loops: Promise<void>[] = [];
  #wake: (() => void) | undefined;

  constructor(options: AgentOptions) {
    this.#options = options;
    this.#client = new ControlPlaneClient(options.server);
    this.#installer = options.installer ?? NO_INSTALLER;
  }

  /** Whether the last call to the control plane got through. */
  get connected(): boolean {
    return this.#connected;
  }

  /** The desired state being run. */
  get desiredState(): DesiredState | undefined {
    return this.#current;
  }

  /** Starts the agent's loops (join, poll, report); returns at once. */
  start(): void {
    this.#loops.push(this.#pollLoop());
    this.#reportTimer = setInterval(() => void this.#report(), this.#options.reportIntervalMs ?? 2000);
  }

  /** Stops polling and reporting, then stops every process gracefully. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#reportTimer) clearInterval(this.#reportTimer);
    if (this.#reportSoonTimer) clearTimeout(this.#reportSoonTimer);
    this.#wake?.();
    this.#installAbort?.abort();
    await this.#converging?.catch(() => undefined);
    await Promise.all([...this.#supervisors.values()].map((s) => s.stop()));
    this.#supervisors.clear();
  }

  /** The report the agent would send now. */
  report(): AgentReport {
    return {
      schemaVersion: 1,
      agent: {
        version: this.#options.version,
        instance: this.#instance,
        startedAt: this.#startedAt,
        pid: process.pid,
        rssBytes: process.memoryUsage.rss(),
      },
      at: new Date().toISOString(),
      appliedRevision: this.#appliedRevision,
      error: this.#error,
      release: this.#release,
      processes: [...this.#supervisors.values()]
        .map((s) => s.report)
        .sort((a, b) => a.name.localeCompare(b.name)),
      tasks: [...this.#tasks.values()].slice(-20),
      metrics: this.#metrics.sample(),
    };
  }

  #log(line: string): void {
    (this.#options.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(
      `${new Date().toISOString()} slipway-agent: ${line}`,
    );
  }

  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
  }

  async #credential(): Promise<StoredCredential> {
    const path = join(this.#options.stateDirectory, 'credential.json');
    const stored = await readFile(path, 'utf8').then(
      (text) => JSON.parse(text) as StoredCredential,
      () => undefined,
    );
    if (stored) return stored;
    const tokenFile = this.#options.joinTokenFile ?? join(this.#options.stateDirectory, 'join-token');
    const token =
      this.#options.joinToken ??
      (await readFile(tokenFile, 'utf8').then(
        (t) => t.trim(),
        () => '',
      ));
    if (!token) {
      throw new ControlPlaneError(`no credential and no join token (looked in ${tokenFile})`, 401);
    }
    const joined = await this.#client.request<JoinAnswer>('POST', '/api/agent/join', {
      credential: token,
      body: { agentVersion: this.#options.version, instance: this.#instance },
    });
    await mkdir(this.#options.stateDirectory, { recursive: true, mode: 0o700 });
    await writeFile(path, `${JSON.stringify(joined)}\n`, { mode: 0o600 });
    await rm(tokenFile, { force: true });
    this.#log(`joined ${joined.environment} as host ${joined.host}`);
    return joined;
  }

  async #pollLoop(): Promise<void> {
    let delay = RETRY_MIN_MS;
    let credential: StoredCredential | undefined;
    while (!this.#stopped) {
      try {
        credential ??= await this.#credential();
        this.#client.setCredential(credential.credential);
        this.#authenticated = true;
        const after = this.#current?.revision ?? -1;
        const waitMs = this.#options.pollWaitMs ?? 20_000;
        const answer = await this.#client.request<PollAnswer>(
          'GET',
          `/api/agent/desired-state?after=${after}&waitMs=${waitMs}`,
          { timeoutMs: waitMs + 10_000 },
        );
        if (!this.#connected) {
          this.#connected = true;
          this.#log('connected to the control plane');
          this.#reportSoon();
        }
        delay = RETRY_MIN_MS;
        if (answer.document) this.#accept(parseDesiredState(answer.document));
      } catch (error) {
        if (this.#stopped) break;
        if (this.#connected)
          this.#log(`lost the control plane: ${(error as Error).message}; running the last desired state`);
        else this.#log(`cannot reach the control plane: ${(error as Error).message}`);
        this.#connected = false;
        if (error instanceof ControlPlaneError && error.status === 401) {
          credential = undefined;
          this.#authenticated = false;
        }
        await this.#sleep(delay);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }

  #accept(document: DesiredState): void {
    if (this.#current && document.revision <= this.#current.revision) return;
    this.#pending = document;
    this.#converging ??= this.#drain().finally(() => {
      this.#converging = undefined;
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending && !this.#stopped) {
      const document = this.#pending;
      this.#pending = undefined;
      try {
        await this.#converge(document);
        this.#current = document;
        this.#appliedRevision = document.revision;
        this.#error = null;
      } catch (error) {
        this.#current = document;
        this.#error = (error as Error).message;
        this.#log(`cannot apply revision ${document.revision}: ${this.#error}`);
      }
      this.#reportSoon();
    }
  }

  async #converge(document: DesiredState): Promise<void> {
    this.#log(`converging to revision ${document.revision}`);
    if (document.release && document.release.id !== this.#installedReleaseId) {
      await this.#install(document.release);
    }
    const wanted = new Map(document.processes.map((p) => [p.name, p]));
    const stops: Promise<void>[] = [];
    for (const [name, supervisor] of this.#supervisors) {
      const spec = wanted.get(name);
      if (!spec || processFingerprint(spec) !== processFingerprint(supervisor.spec)) {
        this.#supervisors.delete(name);
        stops.push(supervisor.stop());
      }
    }
    await Promise.all(stops);
    for (const spec of document.processes) {
      if (this.#supervisors.has(spec.name)) continue;
      const supervisor = new ProcessSupervisor(spec, {
        logDirectory: this.#options.logDirectory,
        onChange: () => this.#reportSoon(),
      });
      this.#supervisors.set(spec.name, supervisor);
      supervisor.start();
    }
    for (const task of document.tasks) {
      if (this.#tasks.has(task.id)) continue;
      this.#tasks.set(task.id, {
        id: task.id,
        name: task.name,
        state: 'running',
        exitCode: null,
        startedAt: new Date().toISOString(),
        finishedAt: null,
        output: '',
      });
      void runTask(task, (update) => this.#tasks.set(task.id, update)).then((result) => {
        this.#tasks.set(task.id, result);
        this.#log(`task ${task.name}: ${result.state}`);
        this.#reportSoon();
      });
    }
  }

  async #install(release: ReleaseSpec): Promise<void> {
    this.#installAbort?.abort();
    const abort = new AbortController();
    this.#installAbort = abort;
    this.#release = { state: 'installing', version: release.version, message: null };
    this.#reportSoon();
    try {
      await this.#installer.install(release, { log: (line) => this.#log(line), signal: abort.signal });
      this.#installedReleaseId = release.id;
      this.#release = { state: 'installed', version: release.version, message: null };
    } catch (error) {
      this.#release = { state: 'failed', version: release.version, message: (error as Error).message };
      throw error;
    }
  }

  #reportSoon(): void {
    if (this.#reportSoonTimer || this.#stopped) return;
    this.#reportSoonTimer = setTimeout(() => {
      this.#reportSoonTimer = undefined;
      void this.#report();
    }, 100);
  }

  async #report(): Promise<void> {
    if (this.#reporting || this.#stopped || !this.#authenticated) return;
    this.#reporting = true;
    try {
      await this.#client.request('POST', '/api/agent/status', { body: this.report(), timeoutMs: 10_000 });
    } catch {
      // the poll loop notices and logs a lost control plane; the next report tries again
    } finally {
      this.#reporting = false;
    }
  }
}
