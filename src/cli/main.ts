import { Command, CommanderError } from 'commander';
import { SLIPWAY_VERSION, SlipwayError, toSlipwayError } from '../core/index.ts';
import { registerAgentCommands } from './commands/agent.ts';
import { registerAppsCommands } from './commands/apps.ts';
import { registerArtifactsCommands } from './commands/artifacts.ts';
import { registerAuditCommands } from './commands/audit.ts';
import { registerDemoCommand } from './commands/demo.ts';
import { registerDeploymentCommands } from './commands/deployments.ts';
import { registerEnvironmentCommands } from './commands/environments.ts';
import { registerIdentityCommands } from './commands/identity.ts';
import { registerReplicationCommands } from './commands/replication.ts';
import { registerRunsCommands } from './commands/runs.ts';
import { registerSecretsCommands } from './commands/secrets.ts';
import { registerServerCommand } from './commands/server.ts';

/** Builds the `slipway` command tree. */
export function buildProgram(): Command {
  const program = new Command('slipway')
    .description('Slipway: from a merge on master to elastic production')
    .version(SLIPWAY_VERSION)
    .option('--server <url>', 'Slipway server URL (env SLIPWAY_URL; default: the one you logged in to)')
    .option('--token <token>', 'API token (env SLIPWAY_TOKEN; default: the one `slipway login` saved)')
    .option('--json', 'print machine-readable JSON')
    .option('--verbose', 'print the cause chain of errors')
    .showHelpAfterError()
    .exitOverride();
  registerServerCommand(program);
  registerDemoCommand(program);
  registerIdentityCommands(program);
  registerAuditCommands(program);
  registerEnvironmentCommands(program);
  registerAgentCommands(program);
  registerSecretsCommands(program);
  registerAppsCommands(program);
  registerRunsCommands(program);
  registerDeploymentCommands(program);
  registerArtifactsCommands(program);
  registerReplicationCommands(program);
  return program;
}

function printCauses(error: unknown): void {
  let cause = (error as { cause?: unknown }).cause;
  while (cause) {
    process.stderr.write(
      `  caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}\n`,
    );
    cause = (cause as { cause?: unknown }).cause;
  }
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode);
    const failure = toSlipwayError(error);
    const verbose = argv.includes('--verbose');
    const local = !(error instanceof SlipwayError); // failed here, not on the server
    process.stderr.write(`Error: ${local && error instanceof Error ? error.message : failure.message}\n`);
    const hint = local ? 'Run the command again with --verbose to see where it failed' : failure.hint;
    if (hint) process.stderr.write(`${hint}\n`);
    if (failure.details !== undefined && (verbose || failure.code === 'INVALID_INPUT')) {
      process.stderr.write(`${JSON.stringify(failure.details, null, 2)}\n`);
    }
    if (verbose) printCauses(failure);
    process.exit(failure.exitCode);
  }
}

await main(process.argv);
