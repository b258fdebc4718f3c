import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ControlPlaneClient, ControlPlaneError } from './control-plane-client.ts';
import {
  type DesiredState,
  type ProcessSpec,
  parseDesiredState,
  processFingerprint,
  type ReleaseSpec,
} from './desired-state.ts';
import { HostMetricsSampler } from './host-metrics.ts';
import { type InstallContext, type Installer, NO_INSTALLER } from './installer.ts';
import { ProcessSupervisor } from './process-supervisor.ts';
import {
  belongsToRelease,
  type InstalledRelease,
  installedReleaseRecord,
  readInstalledRelease,
  secretValuesOf,
  writeInstalledRelease,
  writeReleaseEnvFile,
} from './release-install.ts';
import { runReleaseSteps } from './release-steps.ts';
import type { AgentReport, ReleaseReport, TaskReport } from './report.ts';
import { redact, runTask } from './task-runner.ts';

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
/** Lines of install output the agent keeps; the report carries their last INSTALL_LOG_TAIL characters. */
const INSTALL_LOG_LINES = 200;
const INSTALL_LOG_TAIL = 4000;

/** Longest message a report carries (the control plane takes up to 4000 characters). */
const MESSAGE_MAX = 2000;

function clamp(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function installLogTail(lines: readonly string[]): string {
  const text = lines.join('\n');
  return text.length > INSTALL_LOG_TAIL ? text.slice(text.length - INSTALL_LOG_TAIL) : text;
}

function installedView(installed: InstalledRelease): NonNullable<ReleaseReport['installed']> {
  return {
    id: installed.id,
    version: installed.version,
    package: installed.package,
    packageVersion: installed.packageVersion,
  };
}
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
  #release: ReleaseReport = { state: 'none', id: null, version: null, message: null };
  /** What the agent installed and configured (undefined until read from the state directory). */
  #installed: InstalledRelease | null | undefined;
  /** The install's output, secret values removed; its tail goes into the report. */
  #installLog: string[] = [];
  #installAbort: AbortController | undefined;
  /** The host credential, for the APT channel (never logged or reported). */
  #hostCredential: string | undefined;
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
      release: { ...this.#release, log: installLogTail(this.#installLog) },
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
        this.#hostCredential = credential.credential;
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
        this.#error = clamp((error as Error).message, MESSAGE_MAX);
        this.#log(`cannot apply revision ${document.revision}: ${this.#error}`);
      }
      this.#reportSoon();
    }
  }

  async #converge(document: DesiredState): Promise<void> {
    this.#log(`converging to revision ${document.revision}`);
    await this.#convergeRelease(document);
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
      if (!this.#supervisors.has(spec.name)) this.#startProcess(spec);
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

  #startProcess(spec: ProcessSpec): void {
    const supervisor = new ProcessSupervisor(spec, {
      logDirectory: this.#options.logDirectory,
      onChange: () => this.#reportSoon(),
    });
    this.#supervisors.set(spec.name, supervisor);
    supervisor.start();
  }

  /** What was installed before this agent started, checked against dpkg. */
  async #loadInstalled(): Promise<InstalledRelease | null> {
    if (this.#installed !== undefined) return this.#installed;
    let installed = await readInstalledRelease(this.#options.stateDirectory);
    if (installed && this.#installer.installedVersion) {
      const version = await this.#installer.installedVersion(installed.package).catch(() => null);
      if (version !== installed.packageVersion) {
        this.#log(
          `release ${installed.version}: dpkg has ${installed.package} ${version ?? '(not installed)'}, not ${installed.packageVersion}: it will be installed again`,
        );
        installed = null;
      }
    }
    this.#installed = installed;
    if (installed) {
      this.#release = {
        state: 'installed',
        id: installed.id,
        version: installed.version,
        message: null,
        installed: installedView(installed),
      };
    }
    return installed;
  }

  async #setInstalled(installed: InstalledRelease | null): Promise<void> {
    this.#installed = installed;
    await writeInstalledRelease(this.#options.stateDirectory, installed);
  }

  #setRelease(change: Partial<ReleaseReport>): void {
    this.#release = { ...this.#release, ...change };
    this.#reportSoon();
  }

  /**
   * Brings the host to the document's release when it changed: fetch while the processes run, stop
   * the release's processes gracefully, install (upgrade, downgrade) or remove the package, write the
   * env file, run the steps; the processes start afterwards. When that fails, the previous release is
   * installed again the same way and its processes start again; the error is thrown.
   */
  async #convergeRelease(document: DesiredState): Promise<void> {
    const wanted = document.release;
    const previous = await this.#loadInstalled();
    if ((wanted?.id ?? null) === (previous?.id ?? null) || (!wanted && !previous)) {
      // Nothing to change on the host (a rollback to the release it went back to after a failure).
      if ((this.#release.id ?? null) !== (wanted?.id ?? null) || this.#release.state === 'failed') {
        // After a restart the agent knows the release without its secrets; now it has them again.
        if (previous && wanted && !previous.full) this.#installed = { ...previous, full: wanted };
        this.#setRelease({
          state: wanted ? 'installed' : 'none',
          id: wanted?.id ?? null,
          version: wanted?.version ?? null,
          message: null,
          phase: null,
          installed: previous ? installedView(previous) : null,
        });
      }
      return;
    }
    this.#installAbort?.abort();
    const abort = new AbortController();
    this.#installAbort = abort;
    this.#installLog = [];
    const secrets = [...secretValuesOf(document), ...(this.#hostCredential ? [this.#hostCredential] : [])];
    const label = wanted ? `release ${wanted.version}` : `release ${previous!.version} (removal)`;
    const context: InstallContext = {
      log: (line) => this.#installLine(label, redact(line, secrets)),
      signal: abort.signal,
      ...(this.#hostCredential ? { credential: this.#hostCredential } : {}),
    };
    this.#setRelease({
      state: wanted ? 'installing' : 'removing',
      id: wanted?.id ?? null,
      version: wanted?.version ?? null,
      message: null,
      phase: 'fetch',
      startedAt: new Date().toISOString(),
      finishedAt: null,
      installed: previous ? installedView(previous) : null,
    });
    const failed = (error: unknown, phase: string) => {
      const message = clamp(redact((error as Error).message, secrets), MESSAGE_MAX);
      context.log(`failed: ${message}`);
      this.#setRelease({
        state: 'failed',
        message,
        phase,
        finishedAt: new Date().toISOString(),
        installed: this.#installed ? installedView(this.#installed) : null,
      });
      return new Error(message);
    };
    // Fetch and check first: a channel that does not have the version changes nothing.
    if (wanted) {
      try {
        await this.#installer.prepare?.(wanted, context);
      } catch (error) {
        throw failed(error, 'fetch');
      }
    }
    this.#setRelease({ phase: 'stop' });
    const stopped = await this.#stopReleaseProcesses([wanted, previous?.spec ?? null], context);
    let phase = 'install';
    try {
      if (wanted) {
        this.#setRelease({ phase });
        await this.#installer.install(wanted, context);
        phase = 'env-file';
        this.#setRelease({ phase });
        await writeReleaseEnvFile(wanted, context);
        phase = 'steps';
        this.#setRelease({ phase });
        await runReleaseSteps(wanted, context);
        const version =
          (await this.#installer.installedVersion?.(wanted.artifact.name)) ?? wanted.artifact.version;
        await this.#setInstalled(installedReleaseRecord(wanted, version));
      } else {
        phase = 'remove';
        this.#setRelease({ phase });
        if (!this.#installer.remove) throw new Error('this agent has no installer that can remove a package');
        await this.#installer.remove(previous!.package, context);
        await this.#setInstalled(null);
      }
      context.log(wanted ? 'installed' : 'removed');
      this.#setRelease({
        state: wanted ? 'installed' : 'none',
        phase: null,
        finishedAt: new Date().toISOString(),
        installed: this.#installed ? installedView(this.#installed) : null,
      });
    } catch (error) {
      if (wanted && previous) await this.#restore(previous, context);
      else if (wanted) await this.#setInstalled(null);
      for (const spec of stopped) if (!this.#supervisors.has(spec.name)) this.#startProcess(spec);
      throw failed(error, phase);
    }
  }

  /** Installs the previous release again after a failure (a downgrade, or the same version). */
  async #restore(previous: InstalledRelease, context: InstallContext): Promise<void> {
    this.#setRelease({ phase: 'rollback' });
    context.log(`going back to release ${previous.version} (${previous.package} ${previous.packageVersion})`);
    const release = previous.full ?? previous.spec;
    try {
      await this.#installer.install(release, context);
      if (release.envFile) await writeReleaseEnvFile(release, context);
      else if (previous.envFilePath)
        context.log(
          `the env file ${previous.envFilePath} was left as it is: the agent restarted since release ${previous.version} was installed, and it keeps no secrets`,
        );
      await runReleaseSteps(release, context);
      context.log(`back on release ${previous.version}`);
      this.#installed = previous;
    } catch (error) {
      context.log(`cannot go back to release ${previous.version}: ${(error as Error).message}`);
      // Unknown state: the next desired release (the previous one, in a rollback) installs from scratch.
      await this.#setInstalled(null);
    }
  }

  /** Stops, gracefully and all at once, the processes that run from either release; returns their specs. */
  async #stopReleaseProcesses(
    releases: readonly (ReleaseSpec | null)[],
    context: InstallContext,
  ): Promise<ProcessSpec[]> {
    const stopping: ProcessSupervisor[] = [];
    for (const [name, supervisor] of this.#supervisors) {
      if (!belongsToRelease(supervisor.spec, releases)) continue;
      this.#supervisors.delete(name);
      stopping.push(supervisor);
    }
    if (stopping.length === 0) return [];
    context.log(`stopping ${stopping.map((s) => `${s.spec.name} (${s.spec.stopSignal})`).join(', ')}`);
    await Promise.all(stopping.map((s) => s.stop()));
    this.#reportSoon();
    return stopping.map((s) => s.spec);
  }

  #installLine(label: string, line: string): void {
    this.#installLog.push(line);
    if (this.#installLog.length > INSTALL_LOG_LINES)
      this.#installLog.splice(0, this.#installLog.length - INSTALL_LOG_LINES);
    this.#log(`${label}: ${line}`);
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
