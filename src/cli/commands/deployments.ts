import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidInputError, SlipwayError } from '../../core/index.ts';
import type { ApiClient } from '../api-client.ts';
import { query } from '../api-client.ts';
import { apiFor, globals } from '../context.ts';
import { printObject, printTable, say } from '../output.ts';

interface Deployment {
  id: string;
  number: number;
  environment: string;
  app: string;
  version: string;
  previousVersion: string | null;
  strategy: { strategy: string };
  state: string;
  progress: { done: number; total: number; current: string | null };
  reason: string | null;
  trigger: string;
  requestedBy: string;
  createdAt: string;
  finishedAt: string | null;
}

interface DeploymentEvent {
  id: number;
  at: string;
  level: 'info' | 'warn' | 'error';
  message: string;
}

const FINISHED = new Set(['succeeded', 'failed', 'rolled_back']);

/** A deployment that did not succeed: the CLI exits non-zero with its reason. */
class DeploymentFailedError extends SlipwayError {
  constructor(deployment: Deployment) {
    super(
      'CONFLICT',
      `Deployment #${deployment.number} ${deployment.state.replace('_', ' ')}: ${deployment.reason ?? 'no reason recorded'}`,
      {
        hint: `Read its log with \`slipway deployments logs ${deployment.number}\``,
        retryable: false,
      },
    );
  }
}

function parseStrategy(name: string | undefined): Record<string, unknown> | undefined {
  if (name === undefined) return undefined;
  if (!['rolling', 'blue-green', 'canary'].includes(name)) {
    throw new InvalidInputError(`Cannot use strategy "${name}"`, {
      hint: 'Use rolling, blue-green or canary',
    });
  }
  return { strategy: name };
}

function row(d: Deployment) {
  return {
    number: d.number,
    environment: d.environment,
    app: d.app,
    version: d.version,
    state: d.state,
    progress: `${d.progress.done}/${d.progress.total}`,
    strategy: d.strategy.strategy,
    by: d.requestedBy,
    at: d.createdAt,
  };
}

/** Prints a deployment's events as they come, until it ends; returns the final deployment. */
async function follow(api: ApiClient, number: number, json: boolean): Promise<Deployment> {
  let after = 0;
  while (true) {
    const events = await api.get<DeploymentEvent[]>(`/api/deployments/${number}/events${query({ after })}`);
    for (const event of events) {
      after = event.id;
      if (!json)
        process.stdout.write(
          `${event.at.slice(11, 19)} ${event.level === 'info' ? ' ' : event.level === 'warn' ? '!' : '✗'} ${event.message}\n`,
        );
    }
    const deployment = await api.get<Deployment>(`/api/deployments/${number}`);
    if (FINISHED.has(deployment.state)) {
      const rest = await api.get<DeploymentEvent[]>(`/api/deployments/${number}/events${query({ after })}`);
      if (!json)
        for (const event of rest) process.stdout.write(`${event.at.slice(11, 19)}   ${event.message}\n`);
      return deployment;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function finish(
  api: ApiClient,
  deployment: Deployment,
  options: { wait?: boolean },
  json: boolean,
): Promise<void> {
  if (!options.wait) {
    if (json) return printObject(deployment as unknown as Record<string, unknown>, true);
    say(
      false,
      `Deployment #${deployment.number}: ${deployment.app} ${deployment.version} to ${deployment.environment} (${deployment.state})`,
    );
    say(false, `Follow it with \`slipway deployments logs ${deployment.number} --follow\``);
    return;
  }
  const final = await follow(api, deployment.number, json);
  if (json) printObject(final as unknown as Record<string, unknown>, true);
  if (final.state !== 'succeeded') throw new DeploymentFailedError(final);
  say(json, `Deployment #${final.number} succeeded: ${final.environment} runs ${final.app} ${final.version}`);
}

/** deploy, rollback, deployments list|show|logs|layout. */
export function registerDeploymentCommands(program: Command): void {
  program
    .command('deploy <environment> <version>')
    .description('Deploy a version of an app to an environment (needs deployer on it)')
    .requiredOption('--app <app>', 'the app')
    .option('--strategy <strategy>', "rolling, blue-green or canary (default: the environment's)")
    .option('--wait', 'follow the rollout and exit non-zero unless it succeeds')
    .action(
      async (
        environment: string,
        version: string,
        options: { app: string; strategy?: string; wait?: boolean },
        command: Command,
      ) => {
        const api = await apiFor(command);
        const strategy = parseStrategy(options.strategy);
        const deployment = await api.post<Deployment>('/api/deployments', {
          environment,
          app: options.app,
          version,
          ...(strategy ? { strategy } : {}),
        });
        await finish(api, deployment, options, Boolean(globals(command).json));
      },
    );

  program
    .command('rollback <environment>')
    .description('Roll an app back to the release the environment ran before')
    .requiredOption('--app <app>', 'the app')
    .option('--wait', 'follow the rollback and exit non-zero unless it succeeds')
    .action(async (environment: string, options: { app: string; wait?: boolean }, command: Command) => {
      const api = await apiFor(command);
      const deployment = await api.post<Deployment>('/api/deployments/rollback', {
        environment,
        app: options.app,
      });
      await finish(api, deployment, options, Boolean(globals(command).json));
    });

  const deployments = program.command('deployments').description('Read deployments and their logs');
  deployments
    .command('list')
    .description('Deployments, newest first')
    .option('--environment <environment>', 'only this environment')
    .option('--app <app>', 'only this app')
    .option('--limit <n>', 'how many', '20')
    .action(async (options: { environment?: string; app?: string; limit: string }, command: Command) => {
      const list = await (await apiFor(command)).get<Deployment[]>(
        `/api/deployments${query({ environment: options.environment, app: options.app, limit: options.limit })}`,
      );
      printTable(
        list.map(row),
        ['number', 'environment', 'app', 'version', 'state', 'progress', 'strategy', 'by', 'at'],
        Boolean(globals(command).json),
        list,
      );
    });
  deployments
    .command('show <number>')
    .description('One deployment')
    .option('--wait', 'wait until it ends')
    .action(async (number: string, options: { wait?: boolean }, command: Command) => {
      const api = await apiFor(command);
      const json = Boolean(globals(command).json);
      const deployment = options.wait
        ? await follow(api, Number(number), true)
        : await api.get<Deployment>(`/api/deployments/${Number(number)}`);
      printObject(deployment as unknown as Record<string, unknown>, json);
    });
  deployments
    .command('logs <number>')
    .description("A deployment's log")
    .option('--follow', 'keep printing until the deployment ends')
    .action(async (number: string, options: { follow?: boolean }, command: Command) => {
      const api = await apiFor(command);
      if (options.follow) {
        const final = await follow(api, Number(number), false);
        say(false, `— ${final.state}${final.reason ? `: ${final.reason}` : ''}`);
        return;
      }
      const events = await api.get<DeploymentEvent[]>(`/api/deployments/${Number(number)}/events`);
      if (globals(command).json) return printObject({ events } as Record<string, unknown>, true);
      for (const e of events)
        process.stdout.write(`${e.at} ${e.level.toUpperCase().padEnd(5)} ${e.message}\n`);
    });
  deployments
    .command('layout <app> <version>')
    .description(
      'Record how a version runs (its slipway.yaml), for artifacts not built by a Slipway pipeline',
    )
    .requiredOption('--file <path>', 'the slipway.yaml of that version')
    .action(async (app: string, version: string, options: { file: string }, command: Command) => {
      const slipwayYaml = await readFile(options.file, 'utf8');
      const result = await (await apiFor(command)).post<{ processTypes: string[] }>('/api/release-layouts', {
        app,
        version,
        slipwayYaml,
      });
      say(
        Boolean(globals(command).json),
        `Recorded ${app} ${version}: process types ${result.processTypes.join(', ')}`,
      );
    });
}
