import { InvalidInputError } from '../core/index.ts';
import { serializeDotenv } from './dotenv.ts';

/** What a Laravel `.env` is made of: the release's plain config and its decrypted secret set. */
export interface LaravelEnvInput {
  /** Decrypted secrets, as `resolveSecretSet` returns them. */
  readonly secrets: Readonly<Record<string, string>>;
  /** Plain configuration values of the release (APP_ENV, APP_URL, LOG_CHANNEL, …). */
  readonly config?: Readonly<Record<string, string>>;
}

/** Options for renderLaravelEnv. */
export interface RenderLaravelEnvOptions {
  /** The comment at the top of the file. @default a "written by Slipway, do not edit" note */
  readonly comment?: string;
}

const DEFAULT_COMMENT = 'Written by Slipway at each release; edits here are replaced at the next one.';

/**
 * Renders config and secrets as the text of a Laravel `.env`, sorted by name, quoted so that
 * phpdotenv 5 reads back every value exactly (no `${…}` expansion, multi-line values escaped).
 * The text contains secret values: write it only with `writeEnvFileAtomically` (mode 0600).
 * @throws InvalidInputError when a name is both a config value and a secret, or is not a variable name
 */
export function renderLaravelEnv(input: LaravelEnvInput, options: RenderLaravelEnvOptions = {}): string {
  const config = input.config ?? {};
  const both = Object.keys(config).filter((name) => Object.hasOwn(input.secrets, name));
  if (both.length > 0) {
    throw new InvalidInputError(
      `Cannot render the .env: ${both.sort().join(', ')} ${both.length === 1 ? 'is' : 'are'} both config and secret`,
      { hint: 'Keep each name in one place: the config or the secret set', details: { names: both } },
    );
  }
  const entries = [...Object.entries(config), ...Object.entries(input.secrets)]
    .map(([name, value]) => ({ name, value }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return serializeDotenv(entries, { comment: options.comment ?? DEFAULT_COMMENT });
}

/**
 * What a Laravel host does, in this order, when a release brings a new secret set (the agent's
 * release hooks): write the `.env`, rebuild the config cache from it, then tell queue workers to
 * restart so none keeps the old values. php-fpm reads the new cache on its next request. Run the
 * commands as the app user with umask 077: `config:cache` writes the secrets into
 * bootstrap/cache/config.php (or APP_CONFIG_CACHE), which must be as private as the `.env`.
 */
export const LARAVEL_ENV_STEPS = [
  {
    name: 'write-env',
    description:
      'renderLaravelEnv, then writeEnvFileAtomically(<release>/.env, text, { uid, gid }) as the app user',
  },
  { name: 'config-cache', command: ['php', 'artisan', 'config:cache'] },
  { name: 'queue-restart', command: ['php', 'artisan', 'queue:restart'] },
] as const;
