import type { Command } from 'commander';
import { InvalidInputError } from '../../core/index.ts';
import type { LogChunk, Run } from '../../pipelines/index.ts';
import { type ApiClient, query } from '../api-client.ts';
import { apiFor, globals } from '../context.ts';
import { printObject, printTable, say } from '../output.ts';
import { rawRequest } from './artifacts.ts';

/** Reads "APP/NUMBER". */
function parseHandle(handle: string): { app: string; number: number; path: string } {
  const match = /^([a-z][a-z0-9-]*)\/(\d+)$/.exec(handle);
  if (!match) {
    throw new InvalidInputError(`Cannot read run "${handle}": expected APP/NUMBER`, {
      hint: 'Name a run like laravel-app/12 (`slipway runs list` shows them)',
    });
  }
  return { app: match[1]!, number: Number(match[2]), path: `/api/apps/${match[1]}/runs/${match[2]}` };
}

function runRow(run: Run) {
  return {
    run: `${run.app}/${run.number}`,
    state: run.state,
    commit: run.commit.slice(0, 12),
    version: run.version,
    trigger: run.trigger,
    step: run.steps.find((s) => s.state === 'running' || s.state === 'failed')?.name ?? null,
    created: run.createdAt,
  };
}

function stepSummary(run: Run): string {
  return run.steps.map((s) => `${s.name}:${s.state}`).join(' ');
}

/**
 * Prints a run's log as it is written (server-sent events) until the run ends; returns the run.
 * Reconnects from the last line seen when the connection drops.
 */
export async function followRun(
  api: ApiClient,
  handle: string,
  options: { quiet?: boolean } = {},
): Promise<Run> {
  const { path } = parseHandle(handle);
  let after = 0;
  for (let attempt = 0; ; attempt++) {
    const response = await rawRequest(api, 'GET', `${path}/logs?follow=true&after=${after}`, {
      headers: { accept: 'text/event-stream' },
    });
    const decoder = new TextDecoder();
    let buffer = '';
    let finished: Run | undefined;
    try {
      for await (const part of response.body as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(part, { stream: true });
        let boundary = buffer.indexOf('\n\n');
        while (boundary >= 0) {
          const block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          boundary = buffer.indexOf('\n\n');
          const event = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!event || data === undefined) continue;
          if (event === 'log') {
            const chunk = JSON.parse(data) as LogChunk;
            after = chunk.seq;
            if (!options.quiet) process.stdout.write(chunk.text);
          } else if (event === 'end') {
            finished = JSON.parse(data) as Run;
          }
        }
      }
    } catch {
      // The connection dropped: reconnect below from the last line seen.
    }
    if (finished) return finished;
    if (attempt >= 5) {
      return api.get<Run>(path);
    }
    await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
  }
}

/** runs list|show|logs|start|cancel|rerun. */
export function registerRunsCommands(program: Command): void {
  const runs = program
    .command('runs')
    .description('Pipeline runs: what a push built, live logs, cancel and re-run');

  runs
    .command('list')
    .description('List runs, newest first')
    .option('--app <app>', 'only this app')
    .option('--state <state>', 'queued, running, succeeded, failed or cancelled')
    .option('--limit <n>', 'how many', '20')
    .action(async (options: Record<string, string | undefined>, command: Command) => {
      const list = await (await apiFor(command)).get<Run[]>(
        `/api/runs${query({ app: options.app, state: options.state, limit: options.limit })}`,
      );
      printTable(
        list.map(runRow),
        ['run', 'state', 'commit', 'version', 'trigger', 'step', 'created'],
        Boolean(globals(command).json),
        list,
      );
    });

  runs
    .command('show <run>')
    .description('Show a run (APP/NUMBER) and its steps')
    .action(async (handle: string, _o: unknown, command: Command) => {
      const run = await (await apiFor(command)).get<Run>(parseHandle(handle).path);
      const json = Boolean(globals(command).json);
      if (json) return printObject(run as unknown as Record<string, unknown>, true);
      printObject(
        {
          run: `${run.app}/${run.number}`,
          state: run.state,
          commit: run.commit,
          branch: run.branch,
          version: run.version,
          trigger: run.triggeredBy ? `${run.trigger} (${run.triggeredBy})` : run.trigger,
          attempt: run.attempt,
          error: run.error,
          created: run.createdAt,
          finished: run.finishedAt,
        },
        false,
      );
      printTable(
        run.steps.map((s) => ({
          step: s.name,
          state: s.state,
          started: s.startedAt,
          finished: s.finishedAt,
          error: s.error,
        })),
        ['step', 'state', 'started', 'finished', 'error'],
        false,
      );
    });

  runs
    .command('logs <run>')
    .description(
      "Print a run's log; --follow streams it live until the run ends (exit 1 unless it succeeded)",
    )
    .option('-f, --follow', 'keep printing as the run goes on')
    .action(async (handle: string, options: { follow?: boolean }, command: Command) => {
      const api = await apiFor(command);
      if (options.follow) {
        const run = await followRun(api, handle);
        process.stderr.write(
          `Run ${run.app}/${run.number} ${run.state}${run.error ? `: ${run.error}` : ''}\n`,
        );
        if (run.state !== 'succeeded') process.exitCode = 1;
        return;
      }
      const { path } = parseHandle(handle);
      let after = 0;
      for (;;) {
        const chunks = await api.get<LogChunk[]>(`${path}/logs?after=${after}&limit=5000`);
        if (globals(command).json) {
          process.stdout.write(`${JSON.stringify(chunks)}\n`);
          return;
        }
        for (const chunk of chunks) process.stdout.write(chunk.text);
        if (chunks.length < 5000) return;
        after = chunks.at(-1)!.seq;
      }
    });

  runs
    .command('start <app>')
    .description("Start a run of the tracked branch's head (or --commit)")
    .option('--commit <sha>', 'a full commit id to build instead')
    .option('--wait', 'follow the log until the run ends (exit 1 unless it succeeded)')
    .action(async (app: string, options: { commit?: string; wait?: boolean }, command: Command) => {
      const api = await apiFor(command);
      const result = await api.post<{ run: Run; message: string }>(
        `/api/apps/${encodeURIComponent(app)}/runs`,
        options.commit ? { commit: options.commit } : {},
      );
      const json = Boolean(globals(command).json);
      if (!options.wait) {
        if (json) return printObject(result as unknown as Record<string, unknown>, true);
        return say(false, result.message);
      }
      say(json, result.message);
      const run = await followRun(api, `${app}/${result.run.number}`, { quiet: json });
      if (json) printObject(run as unknown as Record<string, unknown>, true);
      else process.stderr.write(`Run ${app}/${run.number} ${run.state}\n`);
      if (run.state !== 'succeeded') process.exitCode = 1;
    });

  runs
    .command('cancel <run>')
    .description('Cancel a queued or running run')
    .action(async (handle: string, _o: unknown, command: Command) => {
      const run = await (await apiFor(command)).post<Run>(`${parseHandle(handle).path}/cancel`);
      if (globals(command).json) return printObject(run as unknown as Record<string, unknown>, true);
      say(
        false,
        run.state === 'cancelled' ? `Cancelled ${handle}` : `Asked ${handle} to stop (${stepSummary(run)})`,
      );
    });

  runs
    .command('rerun <run>')
    .description("Run a run's commit again, as a new run with a new build number")
    .action(async (handle: string, _o: unknown, command: Command) => {
      const result = await (await apiFor(command)).post<{ message: string }>(
        `${parseHandle(handle).path}/rerun`,
      );
      if (globals(command).json) return printObject(result as unknown as Record<string, unknown>, true);
      say(false, result.message);
    });
}
