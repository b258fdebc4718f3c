import type { ReleaseSpec } from './desired-state.ts';

/** What an installer may use while it installs. */
export interface InstallContext {
  /** A line for the agent's log and the release's install log (secret values are removed first). */
  log(line: string): void;
  /** Aborted when the agent stops or a newer release replaces this one. */
  readonly signal: AbortSignal;
  /**
   * The host's own credential (`sla_…`): the APT channel of the host's environment takes it as the
   * HTTP Basic password. Never put it in an argument list, a log line or a report. Undefined before
   * the agent has joined.
   */
  readonly credential?: string;
}

/**
 * How a host installs a release's package. The agent calls `prepare` while the release's processes
 * still run (fetch and check), stops them, calls `install` (or `remove` when the desired release
 * becomes null), writes the env file, runs the steps and starts the processes again. When anything
 * fails it installs the previous release the same way (a downgrade) and restarts its processes.
 */
export interface Installer {
  /**
   * Fetches and checks everything `install` needs, without changing what is installed (a download
   * fails here, while the processes still run). @default nothing to prepare
   */
  prepare?(release: ReleaseSpec, context: InstallContext): Promise<void>;
  /**
   * Installs the release's package version (upgrading or downgrading what is there, with the
   * package's maintainer scripts); installing the version that is installed does nothing.
   * @throws Error whose message says what failed (a maintainer script's own message included)
   */
  install(release: ReleaseSpec, context: InstallContext): Promise<void>;
  /** Removes a package the agent installed (its conffiles stay, as with `apt-get remove`). */
  remove?(packageName: string, context: InstallContext): Promise<void>;
  /** The version of a package dpkg has installed and configured, or null. */
  installedVersion?(packageName: string): Promise<string | null>;
}

function noInstaller(release: ReleaseSpec): never {
  throw new Error(
    `cannot install ${release.artifact.name} ${release.artifact.version}: this agent has no installer (releases arrive with the Deployments module)`,
  );
}

/** The installer of an agent built without one: a desired release is reported as not installable. */
export const NO_INSTALLER: Installer = {
  // Refused before anything stops: an agent that cannot install keeps its processes running.
  async prepare(release) {
    noInstaller(release);
  },
  async install(release) {
    noInstaller(release);
  },
};
