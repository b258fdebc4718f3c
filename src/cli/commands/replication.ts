import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidInputError, parseDuration, SlipwayError } from '../../core/index.ts';
import { Applier, type ApplierEvent } from '../../replication/index.ts';
import { query } from '../api-client.ts';
import { apiFor, globals } from '../context.ts';
import { printObject, printTable, say } from '../output.ts';

interface TableStatus {
  table: string;
  state: string;
  rowsApplied: number;
  rowsCopied: number | null;
  progress: { rowsDone: number; rowsTotal: number | null } | null;
}

interface LiveStatus {
  desired: string;
  stoppedReason: string | null;
  lagSeconds: number;
  pendingChanges: number;
  batches: number;
  rowsApplied: number;
  rowsPerSecond: number;
  lastError: string | null;
  lastErrorAt: string | null;
  applier: string | null;
  heartbeatAt: string | null;
  applierRunning: boolean;
  tables: TableStatus[];
}

interface LinkSummary {
  name: string;
  state: string;
  health: string;
  applier: string;
  tables: string[];
  lagAlertSeconds: number;
  alertSince: string | null;
  status: LiveStatus | null;
  statusError: string | null;
  events?: { at: string; kind: string; message: string }[];
}

interface VerifyResult {
  identical: boolean;
  position: string | null;
  pendingChanges: number;
  tables: {
    table: string;
    sourceRows: number;
    targetRows: number;
    identical: boolean;
    firstDifference?: { fromKey: string; toKey: string; sourceRows: number; targetRows: number };
  }[];
  skipped: string[];
}

/** Raised when verify finds a difference, so the CLI exits non-zero naming the first one. */
export class ReplicaDiffersError extends SlipwayError {
  constructor(
    readonly link: string,
    readonly result: VerifyResult,
  ) {
    const first = result.tables.find((t) => !t.identical);
    super(
      'CONFLICT',
      first
        ? `Replication link "${link}": table "${first.table}" differs from key ${first.firstDifference?.fromKey} to ${first.firstDifference?.toKey} (source ${first.firstDifference?.sourceRows} rows, replica ${first.firstDifference?.targetRows} rows there)`
        : `Replication link "${link}": the sides differ`,
      {
        hint: `Copy the table again with \`slipway replication resync ${link} ${first?.table ?? 'TABLE'}\``,
        retryable: false,
      },
    );
  }
}

const path = (name: string, action = '') => `/api/replication/links/${encodeURIComponent(name)}${action}`;

/** Reads a connection string from a flag, a file or an environment variable (in that order). */
async function connectionString(
  side: 'source' | 'target',
  options: { value?: string; file?: string; env: string },
): Promise<string> {
  if (options.value) return options.value;
  if (options.file) return (await readFile(options.file, 'utf8')).trim();
  const fromEnv = process.env[options.env];
  if (fromEnv) return fromEnv;
  throw new InvalidInputError(`Cannot tell where the ${side} database is`, {
    hint: `Pass --${side} DSN, --${side}-file PATH (safer: not visible in the process list), or set ${options.env}`,
  });
}

function seconds(value: number): string {
  return value < 10 ? value.toFixed(2) : value.toFixed(0);
}

function printStatus(link: LinkSummary): void {
  const s = link.status;
  const lines: [string, string][] = [['health', `${link.health} (${link.state})`]];
  if (!s) {
    lines.push(['status', `cannot be read: ${link.statusError ?? 'unknown'}`]);
  } else {
    if (s.stoppedReason) lines.push(['stopped', s.stoppedReason]);
    lines.push(
      [
        'lag',
        `${seconds(s.lagSeconds)} s (${s.pendingChanges} changes waiting; alert above ${link.lagAlertSeconds} s)`,
      ],
      ['throughput', `${s.rowsPerSecond} rows/s; ${s.rowsApplied} rows applied in ${s.batches} batches`],
      [
        'applier',
        `${link.applier}${s.applier ? ` on ${s.applier}` : ''}: ${s.applierRunning ? 'running' : 'not running'}${s.heartbeatAt ? ` (last report ${s.heartbeatAt})` : ''}`,
      ],
      ['last error', s.lastError ? `${s.lastError} (${s.lastErrorAt})` : '-'],
    );
  }
  if (link.alertSince) lines.push(['alert', `lag above threshold since ${link.alertSince}`]);
  process.stdout.write(`Replication link "${link.name}"\n`);
  const width = Math.max(...lines.map(([k]) => k.length));
  for (const [key, value] of lines) process.stdout.write(`  ${`${key}:`.padEnd(width + 2)}${value}\n`);
  if (s) {
    process.stdout.write('\n');
    printTable(
      s.tables.map((t) => ({
        table: t.table,
        state: t.state,
        rowsApplied: t.rowsApplied,
        copy: t.progress
          ? `${t.progress.rowsDone}${t.progress.rowsTotal ? ` of ~${t.progress.rowsTotal}` : ''} rows`
          : t.rowsCopied === null
            ? '-'
            : `${t.rowsCopied} rows copied`,
      })),
      ['table', 'state', 'rowsApplied', 'copy'],
      false,
    );
  }
  if (link.events?.length) {
    process.stdout.write('\nRecent events\n');
    for (const e of link.events.slice(0, 8)) process.stdout.write(`  ${e.at}  ${e.kind}: ${e.message}\n`);
  }
}

function describeEvent(event: ApplierEvent): string | undefined {
  switch (event.kind) {
    case 'connected':
      return `connected to both sides${event.replicaMode ? '' : ' (without session_replication_role: foreign keys are checked while applying)'}`;
    case 'waiting-for-lock':
      return 'another applier holds this link; waiting';
    case 'copy-progress':
      return `copying ${event.progress.table}: ${event.progress.rowsDone}${event.progress.rowsTotal ? ` of ~${event.progress.rowsTotal}` : ''} rows`;
    case 'copied':
      return `copied ${event.table}: ${event.rows} rows in ${(event.ms / 1000).toFixed(1)} s`;
    case 'stopped':
      return `link stopped${event.reason ? `: ${event.reason}` : ''}; waiting for \`slipway replication start\``;
    case 'resumed':
      return 'link running';
    case 'schema-change':
      return event.message;
    case 'error':
      return `error: ${event.message} (retrying in ${(event.retryInMs / 1000).toFixed(1)} s)`;
    case 'request':
      return `${event.request} request ${event.ok ? 'answered' : 'failed'}`;
    case 'promoted':
      return 'the replica was promoted; the applier stops';
    case 'maintenance':
      return undefined;
    case 'batch':
      return undefined;
  }
}

/** Runs the applier in this process until SIGINT/SIGTERM or promotion. */
/**
 * The applier's batch interval from `--batch-interval`.
 * @throws InvalidInputError when it is not a duration between 10 ms and 60 s
 */
export function batchInterval(value: string): number {
  const ms = parseDuration(value, '--batch-interval');
  if (ms < 10 || ms > 60_000) {
    throw new InvalidInputError(`Cannot run the applier: --batch-interval ${value} is out of range`, {
      hint: 'Use a duration from 10ms to 60s, like 100ms (the default) or 500ms',
      retryable: false,
    });
  }
  return ms;
}

async function runApplier(
  name: string,
  options: {
    source?: string;
    sourceFile?: string;
    target?: string;
    targetFile?: string;
    networkTimeout?: string;
    batchInterval?: string;
  },
  json: boolean,
): Promise<void> {
  const sourceDsn = await connectionString('source', {
    ...(options.source ? { value: options.source } : {}),
    ...(options.sourceFile ? { file: options.sourceFile } : {}),
    env: 'SLIPWAY_REPLICATION_SOURCE',
  });
  const targetDsn = await connectionString('target', {
    ...(options.target ? { value: options.target } : {}),
    ...(options.targetFile ? { file: options.targetFile } : {}),
    env: 'SLIPWAY_REPLICATION_TARGET',
  });
  let window = { rows: 0, batches: 0, since: Date.now() };
  const log = (text: string, event: ApplierEvent) => {
    if (json) process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...event })}\n`);
    else process.stdout.write(`${new Date().toISOString()} ${text}\n`);
  };
  const applier = new Applier({
    link: name,
    sourceDsn,
    targetDsn,
    ...(options.networkTimeout
      ? { networkTimeoutMs: parseDuration(options.networkTimeout, '--network-timeout') }
      : {}),
    ...(options.batchInterval ? { batchIntervalMs: batchInterval(options.batchInterval) } : {}),
    onEvent: (event) => {
      if (event.kind === 'batch') {
        window.rows += event.rows;
        window.batches += 1;
        if (Date.now() - window.since >= 10_000) {
          log(
            `applied ${window.rows} rows in ${window.batches} batches over ${Math.round((Date.now() - window.since) / 1000)} s`,
            event,
          );
          window = { rows: 0, batches: 0, since: Date.now() };
        }
        return;
      }
      const text = describeEvent(event);
      if (text) log(text, event);
    },
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`Received ${signal}: stopping after the current batch…\n`);
    void applier.stop();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  say(json, `Applying replication link "${name}" (Ctrl-C stops)`);
  await applier.start().done;
}

/** replication create|status|start|stop|verify|resync|promote|ddl|reverse|drop|apply. */
export function registerReplicationCommands(program: Command): void {
  const replication = program
    .command('replication')
    .description('Trigger-based replication of a primary PostgreSQL to a replica on another vendor');

  replication
    .command('create')
    .description(
      'Create a link: capture on the source, a read-only replica on the target, then copy and follow',
    )
    .argument('<name>', 'link name (lowercase letters, digits, "-")')
    .option('--source <dsn>', 'source connection string (env SLIPWAY_REPLICATION_SOURCE)')
    .option('--source-file <path>', 'read the source connection string from a file')
    .option('--target <dsn>', 'target connection string (env SLIPWAY_REPLICATION_TARGET)')
    .option('--target-file <path>', 'read the target connection string from a file')
    .option('--tables <list>', 'comma-separated SCHEMA.TABLE names')
    .option('--schema <schema>', 'every table of this schema (with its sequences)')
    .option(
      '--applier <where>',
      '"embedded" (the control plane applies) or "external" (`slipway replication apply`)',
      'embedded',
    )
    .option('--lag-alert <duration>', 'alert when the replica trails by more than this', '60s')
    .option('--wait', 'wait until every table is copied, showing progress')
    .action(async (name: string, options: Record<string, string | boolean | undefined>, command: Command) => {
      const json = Boolean(globals(command).json);
      if (Boolean(options.tables) === Boolean(options.schema)) {
        throw new InvalidInputError('Cannot create the link: give either --tables or --schema', {
          hint: 'Use --tables public.users,public.events or --schema public',
        });
      }
      const source = await connectionString('source', {
        ...(options.source ? { value: String(options.source) } : {}),
        ...(options.sourceFile ? { file: String(options.sourceFile) } : {}),
        env: 'SLIPWAY_REPLICATION_SOURCE',
      });
      const target = await connectionString('target', {
        ...(options.target ? { value: String(options.target) } : {}),
        ...(options.targetFile ? { file: String(options.targetFile) } : {}),
        env: 'SLIPWAY_REPLICATION_TARGET',
      });
      const api = await apiFor(command);
      const link = await api.post<LinkSummary>('/api/replication/links', {
        name,
        source,
        target,
        ...(options.tables
          ? {
              tables: String(options.tables)
                .split(',')
                .map((t) => t.trim())
                .filter(Boolean),
            }
          : { schema: String(options.schema) }),
        applier: options.applier,
        lagAlertSeconds: Math.max(
          1,
          Math.round(parseDuration(String(options.lagAlert), '--lag-alert') / 1000),
        ),
      });
      say(
        json,
        `Created replication link "${name}" with ${link.tables.length} tables: ${link.tables.join(', ')}`,
      );
      if (options.applier === 'external') {
        say(
          json,
          `Run the applier next to the replica: slipway replication apply ${name} --source-file … --target-file …`,
        );
      }
      if (options.wait) await waitForCopy(api, name, json);
      if (json)
        printObject(
          options.wait ? await api.get(path(name)) : (link as unknown as Record<string, unknown>),
          true,
        );
    });

  replication
    .command('status')
    .alias('list')
    .description(
      'Show every link, or one link in detail: lag, pending changes, throughput, last error, tables',
    )
    .argument('[name]', 'link name')
    .action(async (name: string | undefined, _options: unknown, command: Command) => {
      const json = Boolean(globals(command).json);
      const api = await apiFor(command);
      if (name) {
        const link = await api.get<LinkSummary>(path(name));
        if (json) printObject(link as unknown as Record<string, unknown>, true);
        else printStatus(link);
        return;
      }
      const links = await api.get<LinkSummary[]>('/api/replication/links');
      printTable(
        links.map((l) => ({
          name: l.name,
          health: l.health,
          state: l.state,
          lag: l.status ? `${seconds(l.status.lagSeconds)} s` : '-',
          pending: l.status?.pendingChanges ?? '-',
          rowsPerSecond: l.status?.rowsPerSecond ?? '-',
          tables: l.tables.length,
          lastError: l.status?.lastError ?? l.statusError ?? '-',
        })),
        ['name', 'health', 'state', 'lag', 'pending', 'rowsPerSecond', 'tables', 'lastError'],
        json,
        links,
      );
    });

  for (const [verb, text] of [
    ['start', 'Start applying (also after a schema change stopped the link)'],
    ['stop', 'Stop applying; changes keep being captured and apply once started'],
  ] as const) {
    replication
      .command(verb)
      .description(text)
      .argument('<name>', 'link name')
      .action(async (name: string, _options: unknown, command: Command) => {
        const json = Boolean(globals(command).json);
        const link = await (await apiFor(command)).post<LinkSummary>(path(name, `/${verb}`));
        if (json) printObject(link as unknown as Record<string, unknown>, true);
        else say(json, `Replication link "${name}" ${verb === 'start' ? 'started' : 'stopped'}`);
      });
  }

  replication
    .command('verify')
    .description(
      'Compare both sides (row counts, chunked checksums) at one consistent point; exits 6 if they differ',
    )
    .argument('<name>', 'link name')
    .option('--chunk-rows <n>', 'rows per checksum chunk', '10000')
    .action(async (name: string, options: { chunkRows: string }, command: Command) => {
      const json = Boolean(globals(command).json);
      const result = await (await apiFor(command)).post<VerifyResult>(path(name, '/verify'), {
        chunkRows: Number(options.chunkRows),
      });
      if (json) printObject(result as unknown as Record<string, unknown>, true);
      else {
        printTable(
          result.tables.map((t) => ({
            table: t.table,
            sourceRows: t.sourceRows,
            replicaRows: t.targetRows,
            result: t.identical
              ? 'identical'
              : `differs from key ${t.firstDifference?.fromKey} to ${t.firstDifference?.toKey}`,
          })),
          ['table', 'sourceRows', 'replicaRows', 'result'],
          false,
        );
        if (result.skipped.length) say(false, `Skipped while being copied: ${result.skipped.join(', ')}`);
        if (result.pendingChanges)
          say(false, `The link is stopped: ${result.pendingChanges} changes are not applied yet`);
      }
      if (!result.identical) throw new ReplicaDiffersError(name, result);
      say(
        json,
        `Replication link "${name}": the replica is identical to the source (at ${result.position ?? 'now'})`,
      );
    });

  replication
    .command('resync')
    .description('Copy one table again while the others keep replicating')
    .argument('<name>', 'link name')
    .argument('<table>', 'SCHEMA.TABLE')
    .action(async (name: string, table: string, _options: unknown, command: Command) => {
      const json = Boolean(globals(command).json);
      const link = await (await apiFor(command)).post<LinkSummary>(path(name, '/resync'), { table });
      if (json) printObject(link as unknown as Record<string, unknown>, true);
      else
        say(
          false,
          `Copying "${table}" of replication link "${name}" again; \`slipway replication status ${name}\` shows progress`,
        );
    });

  replication
    .command('promote')
    .description('Fail over: make the replica writable and move its sequences past the values in use')
    .argument('<name>', 'link name')
    .action(async (name: string, _options: unknown, command: Command) => {
      const json = Boolean(globals(command).json);
      const result = await (await apiFor(command)).post<{
        promotedAt: string;
        finalBatch: boolean;
        sequences: number;
      }>(path(name, '/promote'));
      if (json) printObject(result as unknown as Record<string, unknown>, true);
      else {
        say(false, `Promoted the replica of "${name}" at ${result.promotedAt}; it is writable now`);
        if (!result.finalBatch)
          say(false, 'The source did not answer: changes it had not shipped are not on the replica');
        say(
          false,
          `To replicate back once the old primary is reachable: slipway replication reverse ${name}`,
        );
      }
    });

  replication
    .command('ddl')
    .description('Apply a schema change (a SQL file) on both sides at a consistent point')
    .argument('<name>', 'link name')
    .argument('<file>', 'SQL file')
    .option('--target-only', 'the source already has the change: apply it on the replica only')
    .action(async (name: string, file: string, options: { targetOnly?: boolean }, command: Command) => {
      const json = Boolean(globals(command).json);
      const script = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new InvalidInputError(`Cannot read "${file}": ${error.code ?? error.message}`, {
          hint: 'Give the path of a SQL file',
        });
      });
      const result = await (await apiFor(command)).post<{ tablesRecopied: string[] }>(path(name, '/ddl'), {
        script,
        targetOnly: Boolean(options.targetOnly),
      });
      if (json) printObject(result as unknown as Record<string, unknown>, true);
      else {
        say(
          false,
          `Applied ${file} through replication link "${name}"${options.targetOnly ? ' (on the replica)' : ' on both sides'}`,
        );
        if (result.tablesRecopied.length)
          say(false, `Copying again (their key changed): ${result.tablesRecopied.join(', ')}`);
      }
    });

  replication
    .command('reverse')
    .description('After a failover, replicate the other way: the promoted replica becomes the source')
    .argument('<name>', 'link name')
    .option('--wait', 'wait until every table is copied, showing progress')
    .action(async (name: string, options: { wait?: boolean }, command: Command) => {
      const json = Boolean(globals(command).json);
      const api = await apiFor(command);
      const link = await api.post<LinkSummary>(path(name, '/reverse'));
      say(
        json,
        `Replication link "${name}" now replicates the other way; the old primary is copied and becomes read-only`,
      );
      if (options.wait) await waitForCopy(api, name, json);
      if (json) printObject(link as unknown as Record<string, unknown>, true);
    });

  replication
    .command('drop')
    .description('Remove a link: its triggers and schemas on both databases')
    .argument('<name>', 'link name')
    .option('--force', 'remove it from Slipway even when a database cannot be reached')
    .action(async (name: string, options: { force?: boolean }, command: Command) => {
      const json = Boolean(globals(command).json);
      const result = await (await apiFor(command)).delete<{ leftBehind: string[] }>(
        `${path(name)}${query({ force: options.force ? 'true' : undefined })}`,
      );
      if (json) printObject(result as unknown as Record<string, unknown>, true);
      else {
        say(false, `Dropped replication link "${name}"`);
        if (result.leftBehind.length) {
          say(
            false,
            `Could not reach the ${result.leftBehind.join(' and ')}: remove the schema "_slipway_${name}" and its triggers there by hand`,
          );
        }
      }
    });

  replication
    .command('apply')
    .description(
      'Run the applier here (next to the replica) until stopped; needs only the two connection strings',
    )
    .argument('<name>', 'link name')
    .option('--source <dsn>', 'source connection string (env SLIPWAY_REPLICATION_SOURCE)')
    .option('--source-file <path>', 'read the source connection string from a file')
    .option('--target <dsn>', 'target connection string (env SLIPWAY_REPLICATION_TARGET)')
    .option('--target-file <path>', 'read the target connection string from a file')
    .option('--network-timeout <duration>', 'give up on a connection silent this long', '120s')
    .option(
      '--batch-interval <duration>',
      'while changes flow, start a batch at most this often: shorter lowers lag, longer costs the source less',
      '100ms',
    )
    .action(async (name: string, options: Record<string, string | undefined>, command: Command) => {
      await runApplier(name, options, Boolean(globals(command).json));
    });
}

async function waitForCopy(
  api: Awaited<ReturnType<typeof apiFor>>,
  name: string,
  json: boolean,
): Promise<void> {
  let last = '';
  for (;;) {
    const link = await api.get<LinkSummary>(path(name));
    const tables = link.status?.tables ?? [];
    const copying = tables.filter((t) => t.state !== 'replicating');
    const text = copying
      .map(
        (t) =>
          `${t.table} ${t.progress ? `${t.progress.rowsDone}${t.progress.rowsTotal ? `/~${t.progress.rowsTotal}` : ''}` : 'queued'}`,
      )
      .join(', ');
    if (link.status && copying.length === 0 && tables.length > 0) {
      say(json, `Copied ${tables.length} tables; replicating`);
      return;
    }
    if (link.status?.stoppedReason) {
      throw new SlipwayError('CONFLICT', `Replication link "${name}" stopped: ${link.status.stoppedReason}`, {
        hint: `See \`slipway replication status ${name}\``,
        retryable: false,
      });
    }
    if (text && text !== last) say(json, `Copying: ${text}`);
    last = text;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
