/**
 * The desired-state document: everything a host must run, as its agent receives it from the control
 * plane. The environments module writes the configuration and the processes its definition names;
 * the Deployments module fills `release` (the .deb to install) and its processes and hooks (`tasks`).
 * The agent converges to the newest revision and reports what it runs (see AgentReport).
 *
 * No zod here: the agent stays small. `parseDesiredState` checks the shape by hand.
 */

/** Signals a process may be stopped with. */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** An HTTP check the agent runs against a process on 127.0.0.1. */
export interface ProcessHealthCheck {
  readonly path: string;
  readonly port: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Passing checks in a row before the process counts as healthy. */
  readonly rise: number;
  /** Failing checks in a row before it counts as unhealthy. */
  readonly fall: number;
}

/** When and how fast a process that exits is started again. */
export interface RestartPolicy {
  /** 'always' restarts after any exit; 'on-failure' only after a non-zero exit or a signal. */
  readonly policy: 'always' | 'on-failure' | 'never';
  /** The first delay; it doubles with each exit that follows a short run. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** A run at least this long resets the delay to `initialDelayMs`. */
  readonly resetAfterMs: number;
}

/** One supervised process. */
export interface ProcessSpec {
  /** Unique on the host; a changed spec under the same name replaces the process (stop, then start). */
  readonly name: string;
  /** [program, ...arguments]; no shell. */
  readonly command: readonly string[];
  /** Working directory. @default the agent's */
  readonly cwd: string | null;
  /** Run as this user (name or uid). @default the agent's user */
  readonly user: string | null;
  /** The full environment of the process (secret values included; names listed in `secretEnv`). */
  readonly env: Readonly<Record<string, string>>;
  /** Names in `env` whose values are secret: never logged, never reported. */
  readonly secretEnv: readonly string[];
  /** Secrets the control plane could not resolve (the process starts without them). */
  readonly unresolvedSecrets: readonly string[];
  readonly healthCheck: ProcessHealthCheck | null;
  readonly stopSignal: StopSignal;
  /** SIGKILL follows `stopSignal` after this long. */
  readonly stopTimeoutMs: number;
  readonly restart: RestartPolicy;
  /** The process's output goes to a log file rotated at `maxBytes`, keeping `keep` old files. */
  readonly logs: { readonly maxBytes: number; readonly keep: number };
}

/** An APT channel a release installs from. */
export interface AptChannel {
  /** The repository's base URL. */
  readonly url: string;
  readonly distribution: string;
  readonly component: string;
  /** The ASCII-armoured public key the repository is signed with. */
  readonly signedBy: string | null;
}

/** The release a host runs; filled by the Deployments module. */
export interface ReleaseSpec {
  readonly id: string;
  readonly app: string;
  readonly version: string;
  readonly artifact: {
    /** The Debian package name. */
    readonly name: string;
    readonly version: string;
    readonly sha256: string;
    readonly channel: AptChannel;
  };
  /** The configuration version the release was made with. */
  readonly configVersion: string | null;
  /** The secrets version the release reads (the Secrets module resolves it). */
  readonly secrets: { readonly reference: string; readonly version: number } | null;
  /**
   * Where the package puts the app and who it runs as (from slipway.yaml's package section). The
   * processes that run in `directory`, run a program from it, or run as `user` are the release's:
   * when the release changes they stop (gracefully) before the package changes and start after.
   */
  readonly install: {
    /** The app's directory, the processes' working directory: "/opt/laravel-app". */
    readonly directory: string;
    /** The user the package creates and the app runs as; null for root. */
    readonly user: string | null;
  };
  /**
   * The app's environment file (Laravel's .env), written atomically with mode 0600 for the app
   * user after the package is installed and before the steps and processes run. Secret values are
   * resolved when the document is served and are never stored or logged. Null: no file.
   */
  readonly envFile: {
    readonly path: string;
    readonly variables: Readonly<Record<string, string>>;
    /** Names in `variables` whose values are secret. */
    readonly secretNames: readonly string[];
    /** Secrets the control plane could not resolve (the file is written without them). */
    readonly unresolvedSecrets: readonly string[];
  } | null;
  /**
   * Commands run on this host after the install and the env file, before the processes start, as
   * the app user under umask 077, in order (a hook with run_on: every_host, like `config:cache`).
   * A failing step fails the install.
   */
  readonly steps: readonly {
    readonly name: string;
    readonly command: readonly string[];
    readonly timeoutMs: number;
  }[];
}

/** A one-off command (a release hook such as `php artisan migrate`): run once per id, its result reported. */
export interface TaskSpec {
  readonly id: string;
  /** What the task is, for people: "predeploy: php artisan migrate --force". */
  readonly name: string;
  readonly command: readonly string[];
  readonly cwd: string | null;
  readonly user: string | null;
  readonly env: Readonly<Record<string, string>>;
  readonly secretEnv: readonly string[];
  readonly timeoutMs: number;
}

/** Everything one host must run. */
export interface DesiredState {
  readonly schemaVersion: 1;
  /** Rises with every change; the agent reports the revision it has converged to. */
  readonly revision: number;
  readonly environment: string;
  readonly host: { readonly id: string; readonly name: string; readonly services: readonly string[] };
  /** The release to install first; null until the first deploy. */
  readonly release: ReleaseSpec | null;
  readonly processes: readonly ProcessSpec[];
  readonly tasks: readonly TaskSpec[];
}

/** The document is not what this agent understands. */
export class DesiredStateError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`Cannot use the desired state: ${path}: ${message}`);
    this.name = 'DesiredStateError';
  }
}

type Check = (value: unknown, path: string) => void;

function fail(path: string, message: string): never {
  throw new DesiredStateError(path, message);
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const string: Check = (v, p) => {
  if (typeof v !== 'string') fail(p, 'expected a string');
};
const nullableString: Check = (v, p) => {
  if (v !== null) string(v, p);
};
const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check =>
  (v, p) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      fail(p, `expected a whole number from ${min} to ${max}`);
    }
  };
const stringList: Check = (v, p) => {
  if (!Array.isArray(v)) fail(p, 'expected a list');
  for (const [i, item] of v.entries()) string(item, `${p}.${i}`);
};
const command: Check = (v, p) => {
  stringList(v, p);
  if ((v as unknown[]).length === 0) fail(p, 'expected a program');
};
const stringMap: Check = (v, p) => {
  if (!isObject(v)) fail(p, 'expected an object');
  for (const [k, item] of Object.entries(v)) string(item, `${p}.${k}`);
};

function object(fields: Record<string, Check>): Check {
  return (v, p) => {
    if (!isObject(v)) fail(p, 'expected an object');
    for (const [key, check] of Object.entries(fields)) check(v[key], `${p}.${key}`);
  };
}
const nullable =
  (check: Check): Check =>
  (v, p) => {
    if (v !== null) check(v, p);
  };
const list =
  (check: Check): Check =>
  (v, p) => {
    if (!Array.isArray(v)) fail(p, 'expected a list');
    for (const [i, item] of v.entries()) check(item, `${p}.${i}`);
  };
const oneOf =
  (values: readonly string[]): Check =>
  (v, p) => {
    if (typeof v !== 'string' || !values.includes(v)) fail(p, `expected one of ${values.join(', ')}`);
  };

const processCheck = object({
  name: string,
  command,
  cwd: nullableString,
  user: nullableString,
  env: stringMap,
  secretEnv: stringList,
  unresolvedSecrets: stringList,
  healthCheck: nullable(
    object({
      path: string,
      port: integer(1, 65_535),
      intervalMs: integer(50),
      timeoutMs: integer(1),
      rise: integer(1, 100),
      fall: integer(1, 100),
    }),
  ),
  stopSignal: oneOf(STOP_SIGNALS),
  stopTimeoutMs: integer(0),
  restart: object({
    policy: oneOf(['always', 'on-failure', 'never']),
    initialDelayMs: integer(0),
    maxDelayMs: integer(0),
    resetAfterMs: integer(0),
  }),
  logs: object({ maxBytes: integer(1024), keep: integer(0, 100) }),
});

const documentCheck = object({
  schemaVersion: (v, p) => {
    if (v !== 1) fail(p, `this agent understands schema version 1, not ${String(v)}: upgrade the agent`);
  },
  revision: integer(0),
  environment: string,
  host: object({ id: string, name: string, services: stringList }),
  release: nullable(
    object({
      id: string,
      app: string,
      version: string,
      artifact: object({
        name: string,
        version: string,
        sha256: string,
        channel: object({ url: string, distribution: string, component: string, signedBy: nullableString }),
      }),
      configVersion: nullableString,
      secrets: nullable(object({ reference: string, version: integer(0) })),
      install: object({ directory: string, user: nullableString }),
      envFile: nullable(
        object({
          path: string,
          variables: stringMap,
          secretNames: stringList,
          unresolvedSecrets: stringList,
        }),
      ),
      steps: list(object({ name: string, command, timeoutMs: integer(1) })),
    }),
  ),
  processes: list(processCheck),
  tasks: list(
    object({
      id: string,
      name: string,
      command,
      cwd: nullableString,
      user: nullableString,
      env: stringMap,
      secretEnv: stringList,
      timeoutMs: integer(1),
    }),
  ),
});

/**
 * Checks that `value` is a desired-state document this agent understands.
 * @throws DesiredStateError naming the first property that is wrong
 */
export function parseDesiredState(value: unknown): DesiredState {
  documentCheck(value, 'document');
  const names = new Set<string>();
  for (const process of (value as DesiredState).processes) {
    if (names.has(process.name))
      fail(`document.processes`, `the process name "${process.name}" appears twice`);
    names.add(process.name);
  }
  return value as DesiredState;
}

/** A stable fingerprint of a process spec: a changed fingerprint means the process must be replaced. */
export function processFingerprint(spec: ProcessSpec): string {
  return stableJson(spec);
}

function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  return `{${Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`)
    .join(',')}}`;
}
