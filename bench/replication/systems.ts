/**
 * The three replication systems the benchmark drives, behind one interface: Slipway (its standalone
 * applier, `slipway replication apply`, as its own process), Bucardo 5.6 and Slony-I 2.2 (Debian).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { installLink } from '../../src/replication/index.ts';
import { type BenchCluster, runProgram, sql, startBenchCluster } from './clusters.ts';
import { SEQUENCES, TABLES } from './workload.ts';

/** One replication system set up between a master and a replica. */
export interface ReplicationSystem {
  readonly name: string;
  /** Settings worth printing next to the figures. */
  readonly settings: string;
  /** Sets replication up and starts it; the initial copy runs (the caller waits for it). */
  install(master: BenchCluster, replica: BenchCluster, workDir: string): Promise<void>;
  /** Stops applying (the capture triggers stay). */
  stopApply(): Promise<void>;
  /** Starts applying again. */
  startApply(): Promise<void>;
  /** Stops everything it started. */
  close(): Promise<void>;
  /** The applier's peak resident memory (VmHWM) over the run, when the system measures it. */
  readonly peakMemoryBytes?: number | undefined;
}

/** A process's peak resident set size (VmHWM in /proc), or 0 when it cannot be read. */
function peakRss(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function waitExit(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

const ROOT = new URL('../../', import.meta.url).pathname;

/** Slipway: a link installed with the engine, applied by `slipway replication apply` in its own process. */
export class SlipwaySystem implements ReplicationSystem {
  readonly name = 'Slipway';
  readonly settings = 'defaults (poll 20 ms when idle)';
  #child: ChildProcess | undefined;
  #files: { source: string; target: string } | undefined;
  #log = '';
  #peakMemory = 0;

  async install(master: BenchCluster, replica: BenchCluster, workDir: string): Promise<void> {
    this.#files = { source: join(workDir, 'source.dsn'), target: join(workDir, 'target.dsn') };
    await writeFile(this.#files.source, master.url('bench'), { mode: 0o600 });
    await writeFile(this.#files.target, replica.url('bench'), { mode: 0o600 });
    await installLink(
      'bench',
      { source: master.url('bench'), target: replica.url('bench') },
      { tables: TABLES },
    );
    await this.startApply();
  }

  async startApply(): Promise<void> {
    const files = this.#files!;
    this.#child = spawn(
      process.execPath,
      [
        join(ROOT, 'bin/slipway.js'),
        'replication',
        'apply',
        'bench',
        '--source-file',
        files.source,
        '--target-file',
        files.target,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
      },
    );
    this.#child.stdout!.on('data', (chunk) => {
      this.#log += chunk;
    });
    this.#child.stderr!.on('data', (chunk) => {
      this.#log += chunk;
    });
  }

  async stopApply(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    this.#peakMemory = Math.max(this.#peakMemory, peakRss(child?.pid));
    child?.kill('SIGTERM');
    await waitExit(child);
  }

  async close(): Promise<void> {
    await this.stopApply();
  }

  /** The applier processes' peak resident memory (the largest of them). */
  get peakMemoryBytes(): number {
    return Math.max(this.#peakMemory, peakRss(this.#child?.pid));
  }

  /** What the applier printed (for a failed run). */
  get log(): string {
    return this.#log;
  }
}

/** Builds dist/ when a source file is newer (the applier runs from the built CLI). */
export function ensureBuiltCli(): void {
  try {
    execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: 'ignore',
    });
  } catch {
    // tsc still writes dist/ when some other file has type errors (checking types is `npm run check`'s job).
  }
}

/**
 * Bucardo 5.6 at its defaults: its control database in a third cluster, one sync with the master as
 * source and the replica as target, the daemon started with `bucardo start`.
 */
export class BucardoSystem implements ReplicationSystem {
  readonly name = 'Bucardo';
  readonly settings = 'defaults (one sync, all tables and sequences)';
  #control: BenchCluster | undefined;
  #workDir = '';

  #args(): string[] {
    return [
      '--dbhost',
      '127.0.0.1',
      '--dbport',
      String(this.#control!.port),
      '--dbuser',
      'bucardo',
      '--dbname',
      'bucardo',
      '--piddir',
      join(this.#workDir, 'run'),
      '--log-destination',
      join(this.#workDir, 'log'),
      '--quiet',
    ];
  }

  async #bucardo(args: readonly string[]): Promise<string> {
    return runProgram('bucardo', [...this.#args(), ...args], {
      cwd: this.#workDir,
      env: { HOME: this.#workDir },
    });
  }

  async install(master: BenchCluster, replica: BenchCluster, workDir: string): Promise<void> {
    this.#workDir = join(workDir, 'bucardo');
    await mkdir(join(this.#workDir, 'run'), { recursive: true });
    await mkdir(join(this.#workDir, 'log'), { recursive: true });
    this.#control = await startBenchCluster('bucardo-control');
    await sql(this.#control.url(), 'CREATE ROLE bucardo SUPERUSER LOGIN');
    await runProgram(
      'bucardo',
      [
        'install',
        '--batch',
        '--dbhost',
        '127.0.0.1',
        '--dbport',
        String(this.#control.port),
        '--dbuser',
        'postgres',
        '--dbname',
        'postgres',
        '--piddir',
        join(this.#workDir, 'run'),
      ],
      { cwd: this.#workDir, env: { HOME: this.#workDir } },
    );
    for (const [name, cluster] of [
      ['master', master],
      ['replica', replica],
    ] as const) {
      await this.#bucardo([
        'add',
        'db',
        name,
        'dbname=bench',
        'dbhost=127.0.0.1',
        `dbport=${cluster.port}`,
        'dbuser=postgres',
      ]);
    }
    await this.#bucardo(['add', 'table', ...TABLES, 'db=master', 'relgroup=bench']);
    await this.#bucardo(['add', 'sequence', ...SEQUENCES, 'db=master', 'relgroup=bench']);
    await this.#bucardo([
      'add',
      'sync',
      'bench',
      'relgroup=bench',
      'dbs=master:source,replica:target',
      'onetimecopy=2',
    ]);
    await this.startApply();
  }

  async startApply(): Promise<void> {
    await this.#bucardo(['start']);
  }

  async stopApply(): Promise<void> {
    await this.#bucardo(['stop']).catch(() => undefined);
    // `bucardo stop` asks the daemons to leave; wait until their pid files are gone.
    for (let i = 0; i < 100; i++) {
      const files = await import('node:fs/promises').then((fs) => fs.readdir(join(this.#workDir, 'run')));
      if (!files.some((f) => f.endsWith('.pid'))) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async close(): Promise<void> {
    await this.stopApply();
    await this.#control?.stop();
  }
}

/**
 * Slony-I 2.2: a cluster of two nodes set up with slonik, one set with every table and sequence, and a
 * slon daemon per node (`-s SYNC_MS` sync interval: 100 ms, its tuned setting, unless set otherwise).
 */
export class SlonySystem implements ReplicationSystem {
  readonly name = 'Slony-I';
  readonly settings: string;
  readonly #syncMs: number;
  #slons: ChildProcess[] = [];
  #master: BenchCluster | undefined;
  #replica: BenchCluster | undefined;
  #workDir = '';

  constructor(syncMs = Number(process.env.BENCH_SLONY_SYNC_MS ?? 100)) {
    this.#syncMs = syncMs;
    this.settings = `slon -s ${syncMs}`;
  }

  async install(master: BenchCluster, replica: BenchCluster, workDir: string): Promise<void> {
    this.#master = master;
    this.#replica = replica;
    this.#workDir = join(workDir, 'slony');
    await mkdir(this.#workDir, { recursive: true });
    const lines = [
      'cluster name = bench;',
      `node 1 admin conninfo = '${master.conninfo('bench')}';`,
      `node 2 admin conninfo = '${replica.conninfo('bench')}';`,
      "init cluster (id = 1, comment = 'master');",
      "store node (id = 2, comment = 'replica', event node = 1);",
      `store path (server = 1, client = 2, conninfo = '${master.conninfo('bench')}');`,
      `store path (server = 2, client = 1, conninfo = '${replica.conninfo('bench')}');`,
      "create set (id = 1, origin = 1, comment = 'bench');",
      ...TABLES.map(
        (t, i) => `set add table (set id = 1, origin = 1, id = ${i + 1}, fully qualified name = '${t}');`,
      ),
      ...SEQUENCES.map(
        (s, i) => `set add sequence (set id = 1, origin = 1, id = ${i + 1}, fully qualified name = '${s}');`,
      ),
    ];
    await writeFile(join(this.#workDir, 'setup.slonik'), `${lines.join('\n')}\n`);
    await runProgram('slonik', [join(this.#workDir, 'setup.slonik')]);
    await this.startApply();
    const subscribe = [
      'cluster name = bench;',
      `node 1 admin conninfo = '${master.conninfo('bench')}';`,
      `node 2 admin conninfo = '${replica.conninfo('bench')}';`,
      'subscribe set (id = 1, provider = 1, receiver = 2, forward = no);',
    ];
    await writeFile(join(this.#workDir, 'subscribe.slonik'), `${subscribe.join('\n')}\n`);
    await runProgram('slonik', [join(this.#workDir, 'subscribe.slonik')]);
  }

  #slon(cluster: BenchCluster, node: number): ChildProcess {
    const child = spawn('slon', ['-s', String(this.#syncMs), 'bench', cluster.conninfo('bench')], {
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    (child as { node?: number }).node = node;
    return child;
  }

  async startApply(): Promise<void> {
    // The origin's slon generates SYNC events; the replica's slon applies them.
    if (!this.#slons.some((s) => (s as { node?: number }).node === 1))
      this.#slons.push(this.#slon(this.#master!, 1));
    this.#slons.push(this.#slon(this.#replica!, 2));
  }

  async stopApply(): Promise<void> {
    const appliers = this.#slons.filter((s) => (s as { node?: number }).node === 2);
    this.#slons = this.#slons.filter((s) => !appliers.includes(s));
    for (const child of appliers) child.kill('SIGTERM');
    await Promise.all(appliers.map(waitExit));
  }

  async close(): Promise<void> {
    const all = this.#slons;
    this.#slons = [];
    for (const child of all) child.kill('SIGTERM');
    await Promise.all(all.map(waitExit));
  }
}
