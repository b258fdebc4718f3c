/**
 * The pieces of a release install around the package: which processes run from a release, the env
 * file, and what the agent remembers of the installed release (never a secret value).
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DesiredState, ProcessSpec, ReleaseSpec } from './desired-state.ts';
import { renderEnvFile, writeEnvFileAtomically, writePrivateFileAtomically } from './env-file.ts';
import { appUser } from './release-steps.ts';

/** The release a host has installed, as the agent remembers it across restarts. */
export interface InstalledRelease {
  readonly id: string;
  readonly app: string;
  readonly version: string;
  /** The Debian package and the version dpkg has installed. */
  readonly package: string;
  readonly packageVersion: string;
  /** The release without its env file's values (what a rollback needs to install it again). */
  readonly spec: ReleaseSpec;
  readonly envFilePath: string | null;
  /** The release as received, env file values included: in memory only, never written. */
  readonly full?: ReleaseSpec;
}

const STATE_FILE = 'release.json';

/** The record of a release the agent just installed. */
export function installedReleaseRecord(release: ReleaseSpec, packageVersion: string): InstalledRelease {
  return {
    id: release.id,
    app: release.app,
    version: release.version,
    package: release.artifact.name,
    packageVersion,
    spec: { ...release, envFile: null },
    envFilePath: release.envFile?.path ?? null,
    full: release,
  };
}

/** What the agent installed, from its state directory; null when nothing (or unreadable). */
export async function readInstalledRelease(stateDirectory: string): Promise<InstalledRelease | null> {
  try {
    const stored = JSON.parse(await readFile(join(stateDirectory, STATE_FILE), 'utf8')) as InstalledRelease;
    if (typeof stored?.id !== 'string' || typeof stored.package !== 'string' || !stored.spec) return null;
    return { ...stored, spec: { ...stored.spec, envFile: null } };
  } catch {
    return null;
  }
}

/** Remembers the installed release (mode 0600), without its env file's values; null forgets it. */
export async function writeInstalledRelease(
  stateDirectory: string,
  installed: InstalledRelease | null,
): Promise<void> {
  const path = join(stateDirectory, STATE_FILE);
  if (!installed) {
    await rm(path, { force: true });
    return;
  }
  const { full: _inMemoryOnly, ...kept } = installed;
  const stored: InstalledRelease = { ...kept, spec: { ...kept.spec, envFile: null } };
  await writePrivateFileAtomically(path, `${JSON.stringify(stored, null, 2)}\n`);
}

function inside(path: string | null | undefined, directory: string): boolean {
  if (!path) return false;
  const dir = directory.replace(/\/+$/, '');
  return path === dir || path.startsWith(`${dir}/`);
}

/**
 * Whether a process runs from one of the releases: in its directory, a program from it, or as its
 * user. Those stop before the package changes; other processes of the host keep running.
 */
export function belongsToRelease(spec: ProcessSpec, releases: readonly (ReleaseSpec | null)[]): boolean {
  return releases.some(
    (release) =>
      release !== null &&
      (inside(spec.cwd, release.install.directory) ||
        inside(spec.command[0], release.install.directory) ||
        (release.install.user !== null && spec.user === release.install.user)),
  );
}

/** Every secret value of a document (process and task secrets, the env file's), to remove from logs. */
export function secretValuesOf(document: DesiredState): string[] {
  const values = new Set<string>();
  for (const item of [...document.processes, ...document.tasks]) {
    for (const name of item.secretEnv) if (item.env[name]) values.add(item.env[name]!);
  }
  const envFile = document.release?.envFile;
  if (envFile)
    for (const name of envFile.secretNames) if (envFile.variables[name]) values.add(envFile.variables[name]!);
  // Longest first, so a secret that contains another is removed whole.
  return [...values].sort((a, b) => b.length - a.length);
}

/**
 * Writes the release's env file: mode 0600, owned by the app user, replaced atomically. Logs the
 * variable names only.
 */
export async function writeReleaseEnvFile(
  release: ReleaseSpec,
  context: { log(line: string): void },
): Promise<void> {
  const envFile = release.envFile;
  if (!envFile) return;
  const user = appUser(release);
  await writeEnvFileAtomically(envFile.path, renderEnvFile(envFile.variables), user ?? {});
  const count = Object.keys(envFile.variables).length;
  context.log(
    `env file ${envFile.path} written for ${user?.name ?? 'root'} (mode 0600): ${count} variables, ${envFile.secretNames.length} secret`,
  );
  if (envFile.unresolvedSecrets.length > 0) {
    context.log(
      `env file ${envFile.path}: the control plane could not resolve ${envFile.unresolvedSecrets.join(', ')}; written without them`,
    );
  }
}
