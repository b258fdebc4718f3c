import type { ReleaseSpec } from './desired-state.ts';

/** What an installer may use while it installs. */
export interface InstallContext {
  /** A line for the agent's log (and the release's install log). */
  log(line: string): void;
  /** Aborted when the agent stops or a newer release replaces this one. */
  readonly signal: AbortSignal;
}

/**
 * How a host installs a release before its processes start. The Deployments module provides the
 * real one (the .deb from the environment's APT channel, with dpkg's maintainer scripts, inside the
 * host); the agent calls it whenever the desired release changes and reports the outcome.
 */
export interface Installer {
  /** Installs `release`; installing the release that is already installed does nothing. */
  install(release: ReleaseSpec, context: InstallContext): Promise<void>;
}

/** The installer of an agent built without one: a desired release is reported as not installable. */
export const NO_INSTALLER: Installer = {
  async install(release) {
    throw new Error(
      `cannot install ${release.artifact.name} ${release.artifact.version}: this agent has no installer (releases arrive with the Deployments module)`,
    );
  },
};
