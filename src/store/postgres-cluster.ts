import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, chmod, chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { UnavailableError } from '../core/index.ts';

const run = promisify(execFile);

/** Where Debian's PostgreSQL 15 server binaries live. */
export const POSTGRES_BIN = process.env.SLIPWAY_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';

/** How clients reach a cluster: a unix socket directory, or 127.0.0.1 and a port. */
export interface ClusterEndpoint {
  /** A socket directory (absolute path) or "127.0.0.1". */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

/** Options for a cluster on this machine. */
export interface PostgresClusterOptions {
  /** The cluster's data directory (created by initdb when missing). */
  readonly dataDir: string;
  /** TCP port on 127.0.0.1, or undefined to listen on the unix socket only. */
  readonly port?: number;
  /** Directory for the unix socket. @default `${dataDir}/../run` */
  readonly socketDir?: string;
  /** Superuser password, set at initdb. */
  readonly password: string;
  /** Extra postgresql.conf settings, written at initdb and on every start. */
  readonly settings?: Readonly<Record<string, string | number>>;
  /** The log file. @default `${dataDir}/../postgres.log` */
  readonly logFile?: string;
}

/** The system user that runs clusters when Slipway itself runs as root (PostgreSQL refuses root). */
export const CLUSTER_OS_USER = 'postgres';

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Runs a PostgreSQL binary as the cluster's OS user. */
async function runAsClusterUser(binary: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const command = isRoot() ? 'runuser' : join(POSTGRES_BIN, binary);
  const fullArgs = isRoot() ? ['-u', CLUSTER_OS_USER, '--', join(POSTGRES_BIN, binary), ...args] : args;
  const { stdout } = await run(command, fullArgs, {
    timeout: timeoutMs,
    env: { ...process.env, LC_ALL: 'C.UTF-8' },
  });
  return stdout;
}

async function osUserIds(user: string): Promise<{ uid: number; gid: number }> {
  const { stdout } = await run('id', ['-u', user]);
  const { stdout: gid } = await run('id', ['-g', user]);
  return { uid: Number(stdout.trim()), gid: Number(gid.trim()) };
}

/**
 * Finds the first directory on the way to `path` that the cluster's OS user cannot pass through,
 * or undefined when every ancestor is searchable by it.
 */
export async function findUnreachableAncestor(path: string): Promise<string | undefined> {
  if (!isRoot()) return undefined;
  const { uid, gid } = await osUserIds(CLUSTER_OS_USER);
  let current = resolve(path);
  const ancestors: string[] = [];
  while (true) {
    ancestors.unshift(current);
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const dir of ancestors) {
    const info = await stat(dir).catch(() => undefined);
    if (!info) return undefined; // the rest will be created, owned so the cluster user can reach it
    const searchable =
      info.uid === uid
        ? (info.mode & 0o100) !== 0
        : info.gid === gid
          ? (info.mode & 0o010) !== 0
          : (info.mode & 0o001) !== 0;
    if (!searchable) return dir;
  }
  return undefined;
}

/**
 * A PostgreSQL 15 cluster on this machine, run by the `postgres` OS user when Slipway is root,
 * listening on a unix socket and optionally on 127.0.0.1 only.
 */
export class PostgresCluster {
  readonly dataDir: string;
  readonly socketDir: string;
  readonly logFile: string;
  readonly #options: PostgresClusterOptions;

  constructor(options: PostgresClusterOptions) {
    this.#options = options;
    this.dataDir = resolve(options.dataDir);
    this.socketDir = resolve(options.socketDir ?? join(dirname(this.dataDir), 'run'));
    this.logFile = resolve(options.logFile ?? join(dirname(this.dataDir), 'postgres.log'));
    // The socket path (dir + "/.s.PGSQL.NNNNN") must fit in sun_path (108 bytes).
    if (this.socketDir.length > 90) {
      throw new UnavailableError(
        `Cannot use "${this.socketDir}" for the PostgreSQL socket: the path is too long`,
        {
          hint: 'Choose a shorter data directory (under 80 characters)',
          retryable: false,
        },
      );
    }
  }

  /** How to connect as the superuser. */
  get endpoint(): ClusterEndpoint {
    return {
      host: this.#options.port === undefined ? this.socketDir : '127.0.0.1',
      port: this.#options.port ?? 5432,
      user: 'postgres',
      password: this.#options.password,
      database: 'postgres',
    };
  }

  /** Whether initdb has already run in the data directory. */
  async isInitialized(): Promise<boolean> {
    return access(join(this.dataDir, 'PG_VERSION'), constants.F_OK).then(
      () => true,
      () => false,
    );
  }

  /** Creates the cluster (initdb) unless it exists. */
  async initialize(): Promise<void> {
    if (await this.isInitialized()) return;
    const blocked = await findUnreachableAncestor(this.dataDir);
    if (blocked) {
      throw new UnavailableError(
        `Cannot create a PostgreSQL cluster in "${this.dataDir}": the ${CLUSTER_OS_USER} user cannot enter "${blocked}"`,
        {
          hint: 'Choose a directory every user can pass through (like /var/lib/slipway or /srv), or make the folder searchable',
          retryable: false,
        },
      );
    }
    const parent = dirname(this.dataDir);
    await mkdir(parent, { recursive: true, mode: 0o711 });
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    await mkdir(this.socketDir, { recursive: true, mode: 0o700 });
    const passwordFile = join(this.dataDir, '..', `.initdb-password-${process.pid}`);
    await writeFile(passwordFile, `${this.#options.password}\n`, { mode: 0o600 });
    try {
      if (isRoot()) {
        const { uid, gid } = await osUserIds(CLUSTER_OS_USER);
        for (const path of [this.dataDir, this.socketDir, passwordFile]) await chown(path, uid, gid);
      }
      await runAsClusterUser('initdb', [
        '-D',
        this.dataDir,
        '-U',
        'postgres',
        '--auth=scram-sha-256',
        `--pwfile=${passwordFile}`,
        '-E',
        'UTF8',
        '--locale=C.UTF-8',
        '--no-instructions',
      ]);
    } finally {
      await rm(passwordFile, { force: true });
    }
  }

  /** The postgresql.conf lines Slipway owns, rewritten on every start. */
  #configText(): string {
    const base: Record<string, string | number> = {
      listen_addresses: this.#options.port === undefined ? "''" : "'127.0.0.1'",
      port: this.#options.port ?? 5432,
      unix_socket_directories: `'${this.socketDir}'`,
      unix_socket_permissions: '0700',
      password_encryption: "'scram-sha-256'",
      ...this.#options.settings,
    };
    return `${Object.entries(base)
      .map(([key, value]) => `${key} = ${value}`)
      .join('\n')}\n`;
  }

  /** Starts the cluster and waits until it accepts connections; a running cluster is left as it is. */
  async start(): Promise<void> {
    await this.initialize();
    if (await this.isRunning()) return;
    const confPath = join(this.dataDir, 'slipway.conf');
    await writeFile(confPath, this.#configText(), { mode: 0o600 });
    const mainConf = join(this.dataDir, 'postgresql.conf');
    const mainText = await readFile(mainConf, 'utf8');
    if (!mainText.includes("include_if_exists = 'slipway.conf'")) {
      await writeFile(mainConf, `${mainText}\ninclude_if_exists = 'slipway.conf'\n`);
    }
    await mkdir(this.socketDir, { recursive: true, mode: 0o700 });
    if (isRoot()) {
      const { uid, gid } = await osUserIds(CLUSTER_OS_USER);
      await chown(confPath, uid, gid);
      await chown(this.socketDir, uid, gid);
      await writeFile(this.logFile, '', { flag: 'a' });
      await chown(this.logFile, uid, gid);
      await chmod(this.logFile, 0o600);
    }
    try {
      await runAsClusterUser(
        'pg_ctl',
        ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', '60', 'start'],
        90_000,
      );
    } catch (error) {
      const log = await readFile(this.logFile, 'utf8').catch(() => '');
      throw new UnavailableError(`Cannot start PostgreSQL in "${this.dataDir}"`, {
        hint: `Read the server log "${this.logFile}"; its last lines are in details`,
        details: { log: log.split('\n').slice(-15).join('\n') },
        cause: error,
      });
    }
  }

  /** Whether a postmaster is running for this data directory. */
  async isRunning(): Promise<boolean> {
    const pid = await this.postmasterPid();
    if (pid === undefined) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** The postmaster's PID from postmaster.pid, if the file exists. */
  async postmasterPid(): Promise<number | undefined> {
    const text = await readFile(join(this.dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
    const pid = text ? Number(text.split('\n')[0]) : Number.NaN;
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  /** Stops the cluster: "fast" rolls back open transactions and disconnects clients. */
  async stop(mode: 'smart' | 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!(await this.isRunning())) return;
    await runAsClusterUser('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop'], 90_000);
  }

  /** Stops the cluster and deletes its files. */
  async destroy(): Promise<void> {
    await this.stop('immediate').catch(() => undefined);
    await rm(this.dataDir, { recursive: true, force: true });
    await rm(this.socketDir, { recursive: true, force: true });
    await rm(this.logFile, { force: true });
  }
}
