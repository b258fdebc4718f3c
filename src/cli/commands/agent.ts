import type { Command } from 'commander';
import { AGENT_VERSION, Agent } from '../../agent/index.ts';
import { InvalidInputError } from '../../core/index.ts';
import { apiFor, globals } from '../context.ts';
import { printObject, say } from '../output.ts';

/** slipway agent … */
export function registerAgentCommands(program: Command): void {
  const agent = program.command('agent').description('The host agent, and the join tokens hosts use to join');

  agent
    .command('run')
    .description(
      'Run the agent on this host: join with a one-time token, then pull and run the desired state',
    )
    .option(
      '--join-token <token>',
      'the one-time join token (or SLIPWAY_JOIN_TOKEN, or a file in the state directory)',
    )
    .option('--join-token-file <file>', 'a file holding the join token (deleted once used)')
    .option('--state-dir <dir>', 'where the agent keeps its credential', '/var/lib/slipway-agent')
    .option('--log-dir <dir>', 'where process logs go', '/var/log/slipway')
    .option('--report-interval <ms>', 'time between status reports', '2000')
    .action(
      async (
        options: {
          joinToken?: string;
          joinTokenFile?: string;
          stateDir: string;
          logDir: string;
          reportInterval: string;
        },
        command: Command,
      ) => {
        const server = globals(command).server ?? process.env.SLIPWAY_URL;
        if (!server) {
          throw new InvalidInputError('Cannot run the agent: which control plane?', {
            hint: 'Pass --server URL (or set SLIPWAY_URL): the agent pulls its desired state from there',
          });
        }
        const joinToken = options.joinToken ?? process.env.SLIPWAY_JOIN_TOKEN;
        const running = new Agent({
          server,
          stateDirectory: options.stateDir,
          logDirectory: options.logDir,
          ...(joinToken ? { joinToken } : {}),
          ...(options.joinTokenFile ? { joinTokenFile: options.joinTokenFile } : {}),
          reportIntervalMs: Number(options.reportInterval),
          version: AGENT_VERSION,
        });
        running.start();
        process.stderr.write(`slipway agent ${AGENT_VERSION}: pulling from ${server}\n`);
        await new Promise<void>((resolve) => {
          const stop = () => void running.stop().finally(resolve);
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
        });
      },
    );

  agent
    .command('join-token <environment> <host>')
    .description('Create a one-time join token for a host (shown once, valid for an hour)')
    .action(async (environment: string, host: string, _options: unknown, command: Command) => {
      const result = await (await apiFor(command)).post<{ host: string; token: string; expiresAt: string }>(
        `/api/environments/${encodeURIComponent(environment)}/hosts/${encodeURIComponent(host)}/join-token`,
      );
      const json = Boolean(globals(command).json);
      if (json) return printObject(result, true);
      say(
        false,
        `Join token for ${environment}/${result.host} (shown once, valid until ${result.expiresAt}):\n${result.token}`,
      );
      say(false, `On the host: slipway --server URL agent run --join-token TOKEN`);
    });

  agent
    .command('revoke <environment> <host>')
    .description("Revoke a host agent's credential (it must join again with a new token)")
    .action(async (environment: string, host: string, _options: unknown, command: Command) => {
      await (await apiFor(command)).post(
        `/api/environments/${encodeURIComponent(environment)}/hosts/${encodeURIComponent(host)}/revoke`,
      );
      say(Boolean(globals(command).json), `The credential of ${environment}/${host} is revoked`);
    });
}
