import { z } from 'zod';
import { mergeSources, parseConfig, parseDuration } from '../core/index.ts';

/** Everything `slipway server` can be configured with. */
export const ServerConfig = z
  .object({
    /** Address to listen on. @default '127.0.0.1' */
    host: z.string().min(1).default('127.0.0.1'),
    /** TCP port; 0 picks a free one. @default 7400 */
    port: z.coerce.number().int().min(0).max(65_535).default(7400),
    /** Slipway's data directory (the embedded PostgreSQL lives under it). @default '.slipway' */
    dataDir: z.string().min(1).default('.slipway'),
    /** An external PostgreSQL; without it the embedded cluster is used. */
    databaseUrl: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'use a postgres:// or postgresql:// URL')
      .optional(),
    /** How long a console session lasts. @default '12h' */
    sessionTtl: z
      .string()
      .regex(/^\d+(ms|s|m|h|d)$/, 'use a number and a unit, like "12h"')
      .default('12h'),
    /** Password of the administrator created on first start; generated and printed once when unset. */
    adminPassword: z.string().min(12, 'use at least 12 characters').max(256).optional(),
    /** @default 'info' */
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** PEM files to serve HTTPS; the session cookie is then marked Secure. */
    tlsCert: z.string().optional(),
    tlsKey: z.string().optional(),
    /** Trust X-Forwarded-* headers from a load balancer in front. @default false */
    trustProxy: z
      .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
      .transform((v) => v === true || v === 'true' || v === '1')
      .default(false),
    /** When set, GET /metrics requires "Authorization: Bearer <metricsToken>". */
    metricsToken: z.string().min(16, 'use at least 16 characters').optional(),
    /** Login attempts per source address per minute. @default 20 */
    loginRateLimit: z.coerce.number().int().min(1).max(10_000).default(20),
    /** The URL users reach the console at (for links in notifications). */
    publicUrl: z.url().optional(),
    /** Where the built console lives. @default the package's console/dist */
    consoleDir: z.string().optional(),
    /** A file holding the secret store's root key (base64 or hex, mode 0600); without a key the store is sealed. */
    rootKeyFile: z.string().min(1).optional(),
    /** The root key itself; prefer rootKeyFile (an environment variable is visible in /proc). */
    rootKey: z.string().min(1).optional(),
    /** Versions of each secret kept; older values are destroyed. @default 10 */
    secretVersionsKept: z.coerce.number().int().min(1).max(1000).default(10),
    /** Pipeline runs this control plane builds at once, over all apps (each app has its own limit too). @default 2 */
    buildConcurrency: z.coerce.number().int().min(1, 'use at least 1').max(64).default(2),
  })
  .refine((c) => Boolean(c.tlsCert) === Boolean(c.tlsKey), {
    message: 'set both tlsCert and tlsKey, or neither',
    path: ['tlsKey'],
  })
  .refine((c) => !(c.rootKeyFile && c.rootKey), {
    message: 'set rootKeyFile or rootKey, not both',
    path: ['rootKey'],
  });
export type ServerConfig = z.infer<typeof ServerConfig>;

/** Settings as raw values, keyed like ServerConfig. */
export type ServerSettings = Partial<Record<keyof ServerConfig, unknown>>;

/** Reads SLIPWAY_* environment variables. */
export function serverSettingsFromEnvironment(env: NodeJS.ProcessEnv): ServerSettings {
  return {
    host: env.SLIPWAY_HOST,
    port: env.SLIPWAY_PORT,
    dataDir: env.SLIPWAY_DATA_DIR,
    databaseUrl: env.SLIPWAY_DATABASE_URL,
    sessionTtl: env.SLIPWAY_SESSION_TTL,
    adminPassword: env.SLIPWAY_ADMIN_PASSWORD,
    logLevel: env.SLIPWAY_LOG_LEVEL,
    tlsCert: env.SLIPWAY_TLS_CERT,
    tlsKey: env.SLIPWAY_TLS_KEY,
    trustProxy: env.SLIPWAY_TRUST_PROXY,
    metricsToken: env.SLIPWAY_METRICS_TOKEN,
    loginRateLimit: env.SLIPWAY_LOGIN_RATE_LIMIT,
    publicUrl: env.SLIPWAY_PUBLIC_URL,
    consoleDir: env.SLIPWAY_CONSOLE_DIR,
    rootKeyFile: env.SLIPWAY_ROOT_KEY_FILE,
    rootKey: env.SLIPWAY_ROOT_KEY,
    secretVersionsKept: env.SLIPWAY_SECRET_VERSIONS_KEPT,
    buildConcurrency: env.SLIPWAY_BUILD_CONCURRENCY,
  };
}

/**
 * Builds the server's configuration: flags, then environment variables, then defaults.
 * @throws ConfigError listing every invalid value
 */
export function loadServerConfig(flags: ServerSettings, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const config = parseConfig(
    ServerConfig,
    mergeSources(flags, serverSettingsFromEnvironment(env)),
    'the server',
  );
  parseDuration(config.sessionTtl, 'sessionTtl');
  return config;
}
