/**
 * Host documents: what each host of an environment must run, as the control plane stores it (secret
 * values never stored: only where they come from), and as the agent receives it (secrets resolved
 * at the moment it is served). The Deployments module fills `release` and its processes and tasks.
 */
import type { DesiredState, ProcessSpec, ReleaseSpec, TaskSpec } from '../agent/index.ts';
import type { EnvironmentModel, ServiceModel } from './model.ts';

/** Where a secret value comes from when a document is served. */
export type SecretSource =
  /** The environment's vault (the Secrets module); unresolved until it is installed. */
  | { readonly kind: 'vault'; readonly name: string }
  /** The password the provider generated for a database role. */
  | { readonly kind: 'database-password'; readonly role: string }
  /** A postgres:// URL with that password. */
  | { readonly kind: 'database-url'; readonly role: string; readonly database: string };

/** A process as stored: plain variables, and secret variables by source. */
export interface StoredProcess extends Omit<ProcessSpec, 'env' | 'secretEnv' | 'unresolvedSecrets'> {
  readonly env: Readonly<Record<string, string>>;
  readonly secrets: Readonly<Record<string, SecretSource>>;
}

/** A task as stored. */
export interface StoredTask extends Omit<TaskSpec, 'env' | 'secretEnv'> {
  readonly env: Readonly<Record<string, string>>;
  readonly secrets: Readonly<Record<string, SecretSource>>;
}

/** A release as stored: the env file's secret variables by source, resolved only when served. */
export interface StoredRelease extends Omit<ReleaseSpec, 'envFile'> {
  readonly envFile: {
    readonly path: string;
    readonly variables: Readonly<Record<string, string>>;
    readonly secrets: Readonly<Record<string, SecretSource>>;
  } | null;
}

/** A host's desired state as stored (the revision is kept beside it). */
export interface HostDocument {
  readonly schemaVersion: 1;
  readonly environment: string;
  readonly host: { readonly id: string; readonly name: string; readonly services: readonly string[] };
  readonly release: StoredRelease | null;
  readonly processes: readonly StoredProcess[];
  readonly tasks: readonly StoredTask[];
}

/** What a document needs from the provider: where instances listen and where the database is. */
export interface DocumentContext {
  /** The port each service's instance listens on, on this host. */
  readonly ports: Readonly<Record<string, number>>;
  readonly database: { readonly host: string; readonly port: number } | null;
}

/** The variables every process starts with. */
const BASE_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
};

function sorted<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The process a service runs on a host, from the definition. Undefined when it has nothing to run yet. */
export function serviceProcess(
  model: EnvironmentModel,
  service: ServiceModel,
  host: string,
  context: DocumentContext,
): StoredProcess | undefined {
  if (!service.command) return undefined;
  const port = context.ports[service.name];
  const env: Record<string, string> = {
    ...BASE_ENV,
    ...model.config,
    ...service.env,
    SLIPWAY_ENVIRONMENT: model.name,
    SLIPWAY_HOST: host,
    SLIPWAY_SERVICE: service.name,
  };
  if (port !== undefined) env.PORT = String(port);
  const secrets: Record<string, SecretSource> = {};
  for (const [variable, name] of Object.entries(service.secrets)) secrets[variable] = { kind: 'vault', name };
  if (service.database && context.database) {
    Object.assign(env, {
      DB_CONNECTION: 'pgsql',
      DB_HOST: context.database.host,
      DB_PORT: String(context.database.port),
      DB_DATABASE: service.database.database,
      DB_USERNAME: service.database.role,
    });
    secrets.DB_PASSWORD = { kind: 'database-password', role: service.database.role };
    secrets.DATABASE_URL = {
      kind: 'database-url',
      role: service.database.role,
      database: service.database.database,
    };
  }
  return {
    name: service.name,
    command: service.command,
    cwd: null,
    user: null,
    env: sorted(env),
    secrets: sorted(secrets),
    healthCheck:
      service.healthCheck && port !== undefined
        ? {
            path: service.healthCheck.path,
            port,
            intervalMs: service.healthCheck.intervalMs,
            timeoutMs: service.healthCheck.timeoutMs,
            rise: service.healthCheck.rise,
            fall: service.healthCheck.fall,
          }
        : null,
    stopSignal: 'SIGTERM',
    stopTimeoutMs: service.stopTimeoutMs,
    restart: { policy: 'always', initialDelayMs: 1000, maxDelayMs: 30_000, resetAfterMs: 10_000 },
    logs: { maxBytes: 10 * 1024 * 1024, keep: 3 },
  };
}

/** Resolves secret sources; undefined for a secret that cannot be resolved now. */
export type SecretResolver = (source: SecretSource) => string | undefined;

function resolveSecrets(
  env: Readonly<Record<string, string>>,
  secrets: Readonly<Record<string, SecretSource>>,
  resolve: SecretResolver,
): { env: Record<string, string>; secretEnv: string[]; unresolved: string[] } {
  const result: Record<string, string> = { ...env };
  const secretEnv: string[] = [];
  const unresolved: string[] = [];
  for (const [variable, source] of Object.entries(secrets)) {
    const value = resolve(source);
    if (value === undefined) {
      unresolved.push(variable);
    } else {
      result[variable] = value;
      secretEnv.push(variable);
    }
  }
  return { env: sorted(result), secretEnv: secretEnv.sort(), unresolved: unresolved.sort() };
}

/** A stored release as its agent receives it: the env file's secrets resolved. */
function serveRelease(release: StoredRelease | null, resolve: SecretResolver): ReleaseSpec | null {
  if (!release) return null;
  const { envFile, ...rest } = release;
  if (!envFile) return { ...rest, envFile: null };
  const resolved = resolveSecrets(envFile.variables, envFile.secrets, resolve);
  return {
    ...rest,
    envFile: {
      path: envFile.path,
      variables: resolved.env,
      secretNames: resolved.secretEnv,
      unresolvedSecrets: resolved.unresolved,
    },
  };
}

/**
 * The vault secrets a document names (processes, tasks, the release's env file), so that serving it
 * resolves the secret set once.
 */
export function vaultSecretNames(document: HostDocument): string[] {
  const names = new Set<string>();
  const sources = [
    ...document.processes.map((p) => p.secrets),
    ...document.tasks.map((t) => t.secrets),
    document.release?.envFile?.secrets ?? {},
  ];
  for (const secrets of sources)
    for (const source of Object.values(secrets)) if (source.kind === 'vault') names.add(source.name);
  return [...names].sort();
}

/** The document as its agent receives it: secrets resolved into the environment of each process. */
export function serveDocument(
  document: HostDocument,
  revision: number,
  resolve: SecretResolver,
): DesiredState {
  return {
    schemaVersion: 1,
    revision,
    environment: document.environment,
    host: document.host,
    release: serveRelease(document.release, resolve),
    processes: document.processes.map(({ secrets, env, ...process }) => {
      const resolved = resolveSecrets(env, secrets, resolve);
      return {
        ...process,
        env: resolved.env,
        secretEnv: resolved.secretEnv,
        unresolvedSecrets: resolved.unresolved,
      };
    }),
    tasks: document.tasks.map(({ secrets, env, ...task }) => {
      const resolved = resolveSecrets(env, secrets, resolve);
      return { ...task, env: resolved.env, secretEnv: resolved.secretEnv };
    }),
  };
}
