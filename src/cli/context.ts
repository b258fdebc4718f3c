import type { Command } from 'commander';
import { UnauthenticatedError } from '../core/index.ts';
import { ApiClient } from './api-client.ts';
import { readCliConfig } from './cli-config.ts';

/** The global flags every command accepts. */
export interface GlobalOptions {
  readonly server?: string;
  readonly token?: string;
  readonly json?: boolean;
  readonly verbose?: boolean;
}

/** The global flags, read from the root command. */
export function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals() as GlobalOptions;
}

/** The default server when nothing says otherwise. */
export const DEFAULT_SERVER = 'http://127.0.0.1:7400';

/**
 * An API client for the command: server and token from flags, then SLIPWAY_URL / SLIPWAY_TOKEN,
 * then the file `slipway login` wrote.
 */
export async function apiFor(command: Command, options: { anonymous?: boolean } = {}): Promise<ApiClient> {
  const flags = globals(command);
  const file = await readCliConfig();
  const server = flags.server ?? process.env.SLIPWAY_URL ?? file?.server ?? DEFAULT_SERVER;
  const token =
    flags.token ?? process.env.SLIPWAY_TOKEN ?? (file && file.server === server ? file.token : undefined);
  if (!token && !options.anonymous) {
    throw new UnauthenticatedError(`Not logged in to ${server}`, {
      hint: 'Run `slipway login`, or pass --token / set SLIPWAY_TOKEN',
    });
  }
  return new ApiClient({ server, ...(token ? { token } : {}) });
}
