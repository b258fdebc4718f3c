/**
 * A client of HAProxy's runtime API over its stats socket ("stats socket PATH level admin"): server
 * weights, drain/maint/ready states, enable/disable, dynamic add/delete of servers, and the statistics
 * a deployment's health gates read. Nothing here reloads HAProxy.
 */
import { createConnection } from 'node:net';

/** HAProxy refused a runtime command. */
export class HaproxyCommandError extends Error {
  constructor(
    readonly command: string,
    readonly answer: string,
  ) {
    super(`HAProxy refused "${command}": ${answer.trim() || '(no answer)'}`);
    this.name = 'HaproxyCommandError';
  }
}

/** A server's administrative state, as `set server … state` takes it. */
export type ServerAdminState = 'ready' | 'drain' | 'maint';

/** One server, from `show stat`. */
export interface ServerStat {
  readonly backend: string;
  readonly server: string;
  /** "UP", "DOWN", "MAINT", "DRAIN", "no check", "UP 1/2" (going down), "DOWN 1/2" (going up), … */
  readonly status: string;
  readonly weight: number;
  /** Sessions open now. */
  readonly currentSessions: number;
  readonly totalSessions: number;
  readonly responses5xx: number;
  readonly responses2xx: number;
  /** Average response time over the last 1024 requests, in ms. */
  readonly averageResponseMs: number;
  readonly checkStatus: string;
  readonly address: string;
}

/** One server, from `show servers state`. */
export interface ServerState {
  readonly backend: string;
  readonly server: string;
  readonly address: string;
  readonly port: number;
  /** 0 stopped, 1 starting, 2 running, 3 stopping. */
  readonly operationalState: number;
  /** A bit field: 1 forced maintenance, 8 forced drain, … (0 means ready). */
  readonly adminState: number;
  readonly userWeight: number;
}

/** Options of a server added at run time. */
export interface AddServerOptions {
  readonly address: string;
  readonly port: number;
  /** @default 100 */
  readonly weight?: number;
  /** Health checking, like the configuration's `check inter … rise … fall …`. */
  readonly check?: { readonly intervalMs: number; readonly rise: number; readonly fall: number };
  /** Take traffic at once (after the first passing check when checked). @default true */
  readonly enable?: boolean;
}

function parseCsv(text: string): Record<string, string>[] {
  const lines = text.split('\n').filter((l) => l.length > 0);
  const header = lines.shift()?.replace(/^# /, '').split(',') ?? [];
  return lines.map((line) => {
    const cells = line.split(',');
    return Object.fromEntries(header.map((name, i) => [name, cells[i] ?? '']));
  });
}

/** The runtime API of one HAProxy, through its admin stats socket. */
export class HaproxyRuntime {
  constructor(readonly socketPath: string) {}

  /** Sends one command and returns HAProxy's whole answer. */
  command(command: string, timeoutMs = 5000): Promise<string> {
    if (/[\n;]/.test(command))
      return Promise.reject(new HaproxyCommandError(command, 'one command at a time'));
    return new Promise((resolve, reject) => {
      const socket = createConnection(this.socketPath);
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs}ms`)), timeoutMs);
      socket.on('connect', () => socket.end(`${command}\n`));
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', (error) => {
        clearTimeout(timer);
        reject(new HaproxyCommandError(command, `cannot reach the stats socket: ${error.message}`));
      });
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
    });
  }

  /** Runs a command whose success answer is empty or matches `success`. */
  async #expect(command: string, success?: RegExp): Promise<string> {
    const answer = await this.command(command);
    const text = answer.trim();
    if (text === '' || success?.test(text)) return text;
    throw new HaproxyCommandError(command, text);
  }

  /** Every server's statistics (optionally of one backend). */
  async serverStats(backend?: string): Promise<ServerStat[]> {
    const rows = parseCsv(await this.command('show stat'));
    return rows
      .filter((r) => r.svname !== 'FRONTEND' && r.svname !== 'BACKEND' && (!backend || r.pxname === backend))
      .map((r) => ({
        backend: r.pxname ?? '',
        server: r.svname ?? '',
        status: r.status ?? '',
        weight: Number(r.weight ?? 0),
        currentSessions: Number(r.scur ?? 0),
        totalSessions: Number(r.stot ?? 0),
        responses5xx: Number(r.hrsp_5xx ?? 0),
        responses2xx: Number(r.hrsp_2xx ?? 0),
        averageResponseMs: Number(r.rtime ?? 0),
        checkStatus: r.check_status ?? '',
        address: r.addr ?? '',
      }));
  }

  /** The servers' states, as HAProxy would save them in a server-state file. */
  async serversState(backend?: string): Promise<ServerState[]> {
    const answer = await this.command(`show servers state${backend ? ` ${backend}` : ''}`);
    return answer
      .split('\n')
      .filter((l) => l && !l.startsWith('#') && /^\d+ /.test(l))
      .map((l) => l.split(' '))
      .map((f) => ({
        backend: f[1]!,
        server: f[3]!,
        address: f[4]!,
        operationalState: Number(f[5]),
        adminState: Number(f[6]),
        userWeight: Number(f[7]),
        port: Number(f[18]),
      }));
  }

  /** `show servers state` as text, in the format of a server-state file (kept across reloads). */
  async serverStateFile(): Promise<string> {
    return this.command('show servers state');
  }

  /** Sets a server's weight (0 to 256; 0 takes it out of the rotation without closing connections). */
  async setWeight(backend: string, server: string, weight: number): Promise<void> {
    if (!Number.isInteger(weight) || weight < 0 || weight > 256) {
      throw new HaproxyCommandError(
        `set weight ${backend}/${server} ${weight}`,
        'the weight must be a whole number from 0 to 256',
      );
    }
    await this.#expect(`set weight ${backend}/${server} ${weight}`);
  }

  /** Sets a server's state: `drain` lets open connections finish and sends no new ones; `maint` stops it. */
  async setState(backend: string, server: string, state: ServerAdminState): Promise<void> {
    await this.#expect(`set server ${backend}/${server} state ${state}`);
  }

  /** Puts a server back into service (from maintenance). */
  async enableServer(backend: string, server: string): Promise<void> {
    await this.#expect(`enable server ${backend}/${server}`);
  }

  /** Takes a server out of service (maintenance). */
  async disableServer(backend: string, server: string): Promise<void> {
    await this.#expect(`disable server ${backend}/${server}`);
  }

  /** Adds a server to a running backend; it starts in maintenance unless `enable` (the default). */
  async addServer(backend: string, server: string, options: AddServerOptions): Promise<void> {
    const check = options.check
      ? ` check inter ${options.check.intervalMs} rise ${options.check.rise} fall ${options.check.fall}`
      : '';
    await this.#expect(
      `add server ${backend}/${server} ${options.address}:${options.port} weight ${options.weight ?? 100}${check}`,
      /^New server registered\.?$/,
    );
    if (options.check) await this.#expect(`enable health ${backend}/${server}`);
    if (options.enable !== false) await this.enableServer(backend, server);
  }

  /**
   * Removes a server: it goes to maintenance first; HAProxy refuses while connections are open, so
   * drain it before (setState(…, 'drain')) and wait until `currentSessions` is 0.
   */
  async deleteServer(backend: string, server: string): Promise<void> {
    await this.setState(backend, server, 'maint');
    await this.#expect(`del server ${backend}/${server}`, /^Server deleted\.?$/);
  }

  /** Waits until the server's status starts with `status` ("UP", "DOWN", "MAINT"), or times out. */
  async waitForStatus(
    backend: string,
    server: string,
    status: string,
    timeoutMs = 10_000,
  ): Promise<ServerStat> {
    const deadline = Date.now() + timeoutMs;
    let last: ServerStat | undefined;
    while (Date.now() < deadline) {
      last = (await this.serverStats(backend)).find((s) => s.server === server);
      if (last && (last.status === status || last.status.startsWith(`${status} `))) return last;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new HaproxyCommandError(
      `wait for ${backend}/${server} ${status}`,
      `still "${last?.status ?? 'missing'}" after ${timeoutMs}ms`,
    );
  }
}
