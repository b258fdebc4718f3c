/**
 * Replication benchmark (issue 8): Slipway against Bucardo 5.6 and Slony-I 2.2 from Debian
 * (`bash scripts/setup-bench.sh` installs them), each on a fresh pair of local PostgreSQL 15 clusters
 * in the same run, on the same workload (see ../shared/bench-anchors/replication.md):
 *
 *   pgbench scale 10 (pgbench_history with a primary key) + organisations, users, events (jsonb);
 *   a baseline without replication (pgbench tps, a 200,000-row UPDATE); the initial copy; 10 s idle;
 *   pgbench -c 4 -R 400 for 30 s; unthrottled pgbench -c 4 -j 2 for 60 s; the same with the applier
 *   stopped (trigger overhead, beside an empty PL/pgSQL trigger in the same rounds: the floor of
 *   any PL/pgSQL capture), then the backlog drain; a 200,000-row UPDATE; a 200,000-row INSERT.
 *
 * Lag comes from marker rows committed every 100 ms and polled on the replica every 10 ms. After every
 * phase the replica must equal the master (row count and md5 per table, sequence values).
 * Targets for Slipway: bulk apply ≥ 100,000 rows/s; lag p99 < 0.3 s under unthrottled pgbench;
 * trigger overhead ≤ 12 %; tps lost while replicating ≤ 15 %.
 *
 * BENCH_QUICK=1 shortens the phases for a smoke run; BENCH_SYSTEMS=slipway,bucardo,slony picks systems;
 * BENCH_CATCH_UP_TIMEOUT_S (default 600) is how long a system may take to catch up after a phase.
 */
import { statSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BenchCluster, pgbench, sql, startBenchCluster } from './replication/clusters.ts';
import {
  BucardoSystem,
  ensureBuiltCli,
  type ReplicationSystem,
  SlipwaySystem,
  SlonySystem,
} from './replication/systems.ts';
import {
  LagProbe,
  prepareDatabases,
  quantile,
  rowChanges,
  TABLES,
  waitIdentical,
} from './replication/workload.ts';
import { report } from './support.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const SCALE = Number(process.env.BENCH_SCALE ?? 10);
const LOAD_S = QUICK ? 10 : 60;
const RATED_S = QUICK ? 8 : 30;
const IDLE_S = QUICK ? 4 : 10;
const BULK_ROWS = QUICK ? 50_000 : 200_000;
/**
 * How long a system may take to catch up after a phase before its run is given up (its figures so far
 * are in the log). Bucardo has been seen stalling 30 minutes and more after a long stop.
 */
const CATCH_UP_TIMEOUT_MS = Number(process.env.BENCH_CATCH_UP_TIMEOUT_S ?? 600) * 1000;

interface Phase {
  readonly name: string;
  readonly seconds: number;
  readonly lags: number[];
  readonly rows: number;
  readonly catchUpSeconds: number;
  readonly tps?: number;
  readonly identical: boolean;
}

/**
 * pgbench tps in alternating rounds on the replicated database, on the control database, and (with
 * the applier stopped) on the floor database, whose tables have an empty PL/pgSQL row trigger.
 */
interface TpsComparison {
  readonly replicated: number[];
  readonly control: number[];
  readonly floor: number[];
}

interface SystemResult {
  readonly system: string;
  readonly settings: string;
  /** While replicating, and with the triggers on but the applier stopped. */
  readonly tpsReplicating: TpsComparison;
  readonly tpsStopped: TpsComparison;
  readonly updateSecondsBaseline: number;
  readonly initialCopySeconds: number;
  readonly phases: Record<string, Phase>;
  readonly updateSecondsWithTriggers: number;
  readonly differences: string[];
  readonly load: string;
  /** The applier's peak resident memory, when measured. */
  readonly peakMemoryBytes: number | undefined;
}

const seconds = (ms: number) => ms / 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (text: string) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${text}\n`);

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work();
  return { value, ms: Date.now() - started };
}

function bulkUpdate(rows: number): string {
  return `UPDATE events SET payload = jsonb_set(payload, '{touched}', to_jsonb(clock_timestamp()::text)) WHERE id <= ${rows}`;
}

function bulkInsert(rows: number): string {
  return `INSERT INTO events (user_id, kind, payload)
          SELECT 1 + i % 1000, 'bulk', jsonb_build_object('bulk', i, 'tags', jsonb_build_array('x', i % 11))
          FROM generate_series(1, ${rows}) i`;
}

/**
 * Rounds per comparison: pgbench's tps swings by 10–25 % between runs of one database on this
 * machine (each commit waits for an fsync), so more, shorter rounds, and a median of their ratios.
 */
const TPS_ROUNDS = 6;

/**
 * Alternating pgbench rounds on the replicated and the control database (and the floor database when
 * asked), in ABBA order (the order reverses every round), so that none is favoured by running first or
 * after another's checkpoint.
 */
async function compareTps(
  master: BenchCluster,
  system: string,
  what: string,
  options: { floor?: boolean } = {},
): Promise<TpsComparison> {
  const roundSeconds = String(Math.max(5, Math.round(LOAD_S / TPS_ROUNDS)));
  const result: TpsComparison = { replicated: [], control: [], floor: [] };
  const databases: [string, number[]][] = [
    ['bench', result.replicated],
    ['control', result.control],
    ...(options.floor ? ([['floor', result.floor]] as [string, number[]][]) : []),
  ];
  // The replicated database has run the earlier phases' load too: vacuum every database first, so its
  // pgbench tables start the rounds as clean as the others'.
  for (const [database] of databases) await sql(master.url(database), 'VACUUM ANALYZE');
  for (let round = 0; round < TPS_ROUNDS; round++) {
    const args = ['-n', '-c', '4', '-j', '2', '-T', roundSeconds];
    for (const [database, tps] of round % 2 === 0 ? databases : [...databases].reverse()) {
      tps.push(await pgbench(master, args, database));
    }
  }
  const floor = options.floor ? `, empty trigger ${result.floor.map((t) => t.toFixed(0)).join(', ')}` : '';
  log(
    `${system}: tps ${what}: ${result.replicated.map((t) => t.toFixed(0)).join(', ')} vs control ${result.control.map((t) => t.toFixed(0)).join(', ')}${floor}`,
  );
  return result;
}

async function runSystem(system: ReplicationSystem): Promise<SystemResult> {
  const workDir = await mkdtemp(join(tmpdir(), `slipway-bench-replication-${system.name.toLowerCase()}-`));
  const loadAtStart = loadavg()[0]!.toFixed(1);
  let master: BenchCluster | undefined;
  let replica: BenchCluster | undefined;
  let probe: LagProbe | undefined;
  const differences: string[] = [];
  try {
    [master, replica] = await Promise.all([startBenchCluster('master'), startBenchCluster('replica')]);
    log(`${system.name}: loading pgbench scale ${SCALE} and the SaaS schema`);
    await prepareDatabases(master, replica, SCALE);

    // The bulk UPDATE's statement time before any trigger exists.
    await sql(master.url('bench'), 'CHECKPOINT');
    const updateBaseline = await timed(() => sql(master!.url('bench'), bulkUpdate(BULK_ROWS)));
    log(`${system.name}: ${BULK_ROWS}-row UPDATE without triggers ${seconds(updateBaseline.ms)} s`);

    // Setup and initial copy, until the replica equals the master.
    const copy = await timed(async () => {
      await system.install(master!, replica!, workDir);
      const left = await waitIdentical(master!, replica!, 30 * 60_000);
      if (left.length) throw new Error(`the initial copy did not complete: ${left.join(', ')}`);
    });
    log(`${system.name}: initial copy done in ${seconds(copy.ms)} s`);
    probe = await LagProbe.start(master, replica);
    const phases: Record<string, Phase> = {};

    const phase = async (
      name: string,
      work: () => Promise<number | undefined>,
      options: { stopped?: boolean } = {},
    ): Promise<Phase> => {
      const before = await rowChanges(master!);
      const started = Date.now();
      const tps = await work();
      const ended = Date.now();
      if (options.stopped) await system.startApply();
      // A marker committed right after the phase's last change: once the replica has it, it has all.
      probe!.pause();
      const sentinel = await probe!.mark();
      const caughtUp = await probe!.seen(sentinel, CATCH_UP_TIMEOUT_MS);
      const rows = (await rowChanges(master!)) - before;
      const left = await waitIdentical(master!, replica!);
      probe!.resume();
      if (left.length) differences.push(`${name}: ${left.join(', ')}`);
      const result: Phase = {
        name,
        seconds: seconds(ended - started),
        lags: probe!.lags(started, ended),
        rows,
        catchUpSeconds: seconds(caughtUp - ended),
        ...(tps === undefined ? {} : { tps }),
        identical: left.length === 0,
      };
      phases[name] = result;
      log(
        `${system.name}: ${name}: ${rows} row changes in ${result.seconds.toFixed(1)} s${tps ? `, ${tps.toFixed(0)} tps` : ''}; lag p50 ${quantile(result.lags, 0.5).toFixed(3)} s p99 ${quantile(result.lags, 0.99).toFixed(3)} s; caught up ${result.catchUpSeconds.toFixed(2)} s after; ${left.length ? `DIFFERS: ${left.join(', ')}` : 'identical'}`,
      );
      return result;
    };

    await phase('idle', async () => {
      await sleep(IDLE_S * 1000);
      return undefined;
    });
    await phase('400 tps', () =>
      pgbench(master!, ['-n', '-c', '4', '-j', '2', '-R', '400', '-T', String(RATED_S)]),
    );
    await phase('unthrottled', () => pgbench(master!, ['-n', '-c', '4', '-j', '2', '-T', String(LOAD_S)]));
    // tps against the control database (same cluster, no triggers), round by round so both see the
    // same machine load: while replicating, then with the applier stopped (the triggers' own cost).
    const tpsReplicating = await compareTps(master, system.name, 'replicating');
    await phase('after the tps rounds', async () => undefined);
    await system.stopApply();
    let tpsStopped: TpsComparison = { replicated: [], control: [], floor: [] };
    await phase(
      'apply stopped',
      async () => {
        tpsStopped = await compareTps(master!, system.name, 'apply stopped', { floor: true });
        return undefined;
      },
      { stopped: true },
    );
    let updateWithTriggers = 0;
    await phase('bulk UPDATE', async () => {
      const { ms } = await timed(() => sql(master!.url('bench'), bulkUpdate(BULK_ROWS)));
      updateWithTriggers = seconds(ms);
      return undefined;
    });
    await phase('bulk INSERT', async () => {
      await sql(master!.url('bench'), bulkInsert(BULK_ROWS));
      return undefined;
    });
    return {
      system: system.name,
      settings: system.settings,
      tpsReplicating,
      tpsStopped,
      updateSecondsBaseline: seconds(updateBaseline.ms),
      initialCopySeconds: seconds(copy.ms),
      phases,
      updateSecondsWithTriggers: updateWithTriggers,
      differences,
      peakMemoryBytes: system.peakMemoryBytes,
      load: `${loadAtStart} → ${loadavg()[0]!.toFixed(1)}`,
    };
  } finally {
    await probe?.stop().catch(() => undefined);
    await system.close().catch((error) => log(`${system.name}: close failed: ${error}`));
    await Promise.all([master?.stop(), replica?.stop()]);
    await rm(workDir, { recursive: true, force: true });
  }
}

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? await newestMtime(path) : (await stat(path)).mtimeMs);
  }
  return newest;
}

async function main(): Promise<void> {
  const root = new URL('..', import.meta.url).pathname;
  const built = (() => {
    try {
      return statSync(join(root, 'dist/cli/main.js')).mtimeMs;
    } catch {
      return 0;
    }
  })();

  const wanted = (process.env.BENCH_SYSTEMS ?? 'slipway,bucardo,slony').split(',');
  if (wanted.includes('slipway') && (await newestMtime(join(root, 'src'))) > built) ensureBuiltCli();
  const systems: ReplicationSystem[] = [
    ...(wanted.includes('slipway') ? [new SlipwaySystem()] : []),
    ...(wanted.includes('bucardo') ? [new BucardoSystem()] : []),
    ...(wanted.includes('slony') ? [new SlonySystem()] : []),
  ];
  log(
    `replication benchmark: ${systems.map((s) => s.name).join(', ')}; ${QUICK ? 'quick' : 'full'} phases; load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  const results: SystemResult[] = [];
  for (const system of systems) {
    try {
      results.push(await runSystem(system));
    } catch (error) {
      log(`${system.name}: FAILED: ${error instanceof Error ? error.stack : String(error)}`);
      if (system instanceof SlipwaySystem) log(system.log.slice(-3000));
    }
  }
  printResults(results);
  const slipway = results.find((r) => r.system === 'Slipway');
  const failed = !slipway || results.some((r) => r.differences.length > 0) || results.length < systems.length;
  process.exit(failed ? 1 : 0);
}

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** 1 − measured/control, from the median of the per-round ratios. */
function loss(tps: TpsComparison, measured: 'replicated' | 'floor' = 'replicated'): number {
  return 1 - median(tps[measured].map((t, i) => t / tps.control[i]!));
}

function figures(r: SystemResult) {
  const p = r.phases;
  const live = p.unthrottled!;
  const stopped = p['apply stopped']!;
  const update = p['bulk UPDATE']!;
  const insert = p['bulk INSERT']!;
  return {
    tpsBaseline: median([...r.tpsReplicating.control, ...r.tpsStopped.control]),
    overhead: loss(r.tpsStopped),
    floorOverhead: loss(r.tpsStopped, 'floor'),
    tpsLost: loss(r.tpsReplicating),
    liveApplied: live.rows / (live.seconds + live.catchUpSeconds),
    liveProduced: live.rows / live.seconds,
    lagP50: quantile(live.lags, 0.5),
    lagP99: quantile(live.lags, 0.99),
    lagMax: quantile(live.lags, 1),
    rated50: quantile(p['400 tps']!.lags, 0.5),
    rated99: quantile(p['400 tps']!.lags, 0.99),
    idle50: quantile(p.idle!.lags, 0.5),
    idle99: quantile(p.idle!.lags, 0.99),
    drainRate: stopped.rows / Math.max(stopped.catchUpSeconds, 0.001),
    drainRows: stopped.rows,
    updateStatement: `${r.updateSecondsBaseline.toFixed(2)} / ${r.updateSecondsWithTriggers.toFixed(2)} s`,
    updateCatchUp: update.catchUpSeconds,
    updateRate: BULK_ROWS / Math.max(update.catchUpSeconds, 0.001),
    insertCatchUp: insert.catchUpSeconds,
    insertRate: BULK_ROWS / Math.max(insert.catchUpSeconds, 0.001),
    copy: r.initialCopySeconds,
    peakMemoryMiB: r.peakMemoryBytes ? r.peakMemoryBytes / 2 ** 20 : Number.NaN,
  };
}

function printResults(results: SystemResult[]): void {
  if (results.length === 0) return;
  const f = results.map((r) => ({ system: r.system, f: figures(r) }));
  const n = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const rows: Record<string, string>[] = [
    { metric: 'settings', ...Object.fromEntries(results.map((r) => [r.system, r.settings])) },
    {
      metric: 'pgbench tps without triggers (control database, median of the rounds)',
      ...Object.fromEntries(f.map(({ system, f }) => [system, n(f.tpsBaseline)])),
    },
    {
      metric: 'trigger overhead on pgbench tps (apply stopped)',
      ...Object.fromEntries(f.map(({ system, f }) => [system, pct(f.overhead)])),
    },
    {
      metric: 'same rounds: an empty PL/pgSQL row trigger (the floor of any PL/pgSQL capture)',
      ...Object.fromEntries(f.map(({ system, f }) => [system, pct(f.floorOverhead)])),
    },
    {
      metric: 'tps lost while replicating',
      ...Object.fromEntries(f.map(({ system, f }) => [system, pct(f.tpsLost)])),
    },
    {
      metric: 'live: rows/s applied end to end (master produced)',
      ...Object.fromEntries(f.map(({ system, f }) => [system, `${n(f.liveApplied)} (${n(f.liveProduced)})`])),
    },
    {
      metric: 'lag under unthrottled pgbench p50 / p99 / max',
      ...Object.fromEntries(
        f.map(({ system, f }) => [system, `${n(f.lagP50, 2)} / ${n(f.lagP99, 2)} / ${n(f.lagMax, 2)} s`]),
      ),
    },
    {
      metric: 'lag at 400 tps p50 / p99',
      ...Object.fromEntries(f.map(({ system, f }) => [system, `${n(f.rated50, 2)} / ${n(f.rated99, 2)} s`])),
    },
    {
      metric: 'lag idle p50 / p99',
      ...Object.fromEntries(f.map(({ system, f }) => [system, `${n(f.idle50, 2)} / ${n(f.idle99, 2)} s`])),
    },
    {
      metric: 'backlog drain rate (changes)',
      ...Object.fromEntries(
        f.map(({ system, f }) => [system, `${n(f.drainRate)} rows/s (${n(f.drainRows)})`]),
      ),
    },
    {
      metric: `${BULK_ROWS}-row UPDATE: statement time without / with triggers`,
      ...Object.fromEntries(f.map(({ system, f }) => [system, f.updateStatement])),
    },
    {
      metric: `${BULK_ROWS}-row UPDATE: catch-up after commit (apply rate)`,
      ...Object.fromEntries(
        f.map(({ system, f }) => [system, `${n(f.updateCatchUp, 2)} s (${n(f.updateRate)} rows/s)`]),
      ),
    },
    {
      metric: `${BULK_ROWS}-row INSERT: catch-up after commit (apply rate)`,
      ...Object.fromEntries(
        f.map(({ system, f }) => [system, `${n(f.insertCatchUp, 2)} s (${n(f.insertRate)} rows/s)`]),
      ),
    },
    {
      metric: `initial copy (${TABLES.length} tables) incl. setup`,
      ...Object.fromEntries(f.map(({ system, f }) => [system, `${n(f.copy, 1)} s`])),
    },
    {
      metric: 'replica identical after every phase',
      ...Object.fromEntries(
        results.map((r) => [r.system, r.differences.length ? `NO: ${r.differences.join('; ')}` : 'yes']),
      ),
    },
    {
      metric: 'applier peak RSS (VmHWM, incl. the bulk phases)',
      ...Object.fromEntries(f.map(({ system, f }) => [system, `${n(f.peakMemoryMiB)} MiB`])),
    },
    { metric: 'load average (start → end)', ...Object.fromEntries(results.map((r) => [r.system, r.load])) },
  ];
  const ours = f.find((x) => x.system === 'Slipway')?.f;
  const others = f.filter((x) => x.system !== 'Slipway').map((x) => x.f);
  const ratios: Record<string, unknown> = {};
  if (ours && others.length > 0) {
    const best = (pick: (x: ReturnType<typeof figures>) => number, higherIsBetter: boolean) =>
      higherIsBetter ? Math.max(...others.map(pick)) : Math.min(...others.map(pick));
    const ratio = (
      label: string,
      pick: (x: ReturnType<typeof figures>) => number,
      higherIsBetter: boolean,
    ) => {
      const value = higherIsBetter ? pick(ours) / best(pick, true) : best(pick, false) / pick(ours);
      ratios[label] = Number(value.toFixed(2));
      rows.push({ metric: `Slipway vs the best of the others: ${label}`, Slipway: `${value.toFixed(2)}×` });
    };
    ratio('bulk UPDATE apply rate', (x) => x.updateRate, true);
    ratio('bulk INSERT apply rate', (x) => x.insertRate, true);
    ratio('live rows/s applied', (x) => x.liveApplied, true);
    ratio('lag p99 under load (lower is better)', (x) => x.lagP99, false);
    // Percentages near zero make ratios meaningless: floor them at 1 %.
    ratio('trigger overhead (lower is better)', (x) => Math.max(x.overhead, 0.01), false);
    ratio('tps lost (lower is better)', (x) => Math.max(x.tpsLost, 0.01), false);
  }
  const columns = ['metric', ...results.map((r) => r.system)];
  const complete = rows.map((row) => Object.fromEntries(columns.map((c) => [c, row[c] ?? ''])));
  report('Trigger-based replication: Slipway vs Bucardo 5.6 and Slony-I 2.2', complete, {
    quick: QUICK,
    scale: SCALE,
    bulkRows: BULK_ROWS,
    results: f,
    ratios,
    targets: ours
      ? {
          bulkApplyAtLeast100k: Math.min(ours.updateRate, ours.insertRate) >= 100_000,
          lagP99Under300ms: ours.lagP99 < 0.3,
          triggerOverheadAtMost12pct: ours.overhead <= 0.12,
          tpsLostAtMost15pct: ours.tpsLost <= 0.15,
        }
      : {},
  });
}

await main();
