import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../core/index.ts';

/** What `slipway login` remembers. */
export const CliConfig = z.object({
  server: z.string().url(),
  token: z.string().min(1),
  tokenId: z.string().optional(),
  username: z.string().optional(),
});
export type CliConfig = z.infer<typeof CliConfig>;

/** The config file: $SLIPWAY_CONFIG, else $XDG_CONFIG_HOME/slipway/config.json, else ~/.config/slipway/config.json. */
export function cliConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SLIPWAY_CONFIG) return env.SLIPWAY_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'slipway', 'config.json');
}

/** Reads the config file, or undefined when there is none. */
export async function readCliConfig(path = cliConfigPath()): Promise<CliConfig | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const parsed = CliConfig.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new ConfigError(`Cannot read the CLI config "${path}": it is not a Slipway login`, {
      hint: 'Run `slipway login` again to rewrite it',
    });
  }
  return parsed.data;
}

/** Writes the config file, readable by its owner only. */
export async function writeCliConfig(config: CliConfig, path = cliConfigPath()): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}

/** Removes the config file. */
export async function removeCliConfig(path = cliConfigPath()): Promise<void> {
  await rm(path, { force: true });
}
