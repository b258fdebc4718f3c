/**
 * The real installer: a release's .deb from its environment's APT channel, with apt-get and dpkg as
 * on any Debian machine, so the package's preinst, postinst, prerm and postrm run unmodified with
 * dpkg's own arguments (`install`, `upgrade OLD`, `configure OLD`, `remove`, …). A rollback is the
 * same call with an older version (a downgrade).
 *
 * apt runs with private state: only the release's channel as a source (its key as `signed-by`),
 * private lists and cache, and an auth.conf (0600) that carries the host credential as the HTTP
 * Basic password. The credential never appears in an argument list, a log line or a report.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReleaseSpec } from './desired-state.ts';
import { writePrivateFileAtomically } from './env-file.ts';
import type { InstallContext, Installer } from './installer.ts';
import { lineSplitter } from './release-steps.ts';

/** How the APT installer is set up. */
export interface AptInstallerOptions {
  /**
   * Where apt's private sources list, channel key, lists and package cache go. Readable by apt's
   * unprivileged `_apt` user (it downloads); nothing secret is kept there.
   * @default '/var/cache/slipway-agent/apt'
   */
  readonly directory?: string;
  /** apt's auth.conf for the channel (0600, root only: it holds the host credential). @default '/var/lib/slipway-agent/apt-auth.conf' */
  readonly authFile?: string;
  /** How long `apt-get update` and the download may take. @default 300000 */
  readonly fetchTimeoutMs?: number;
  /** How long the install (the maintainer scripts) may take. @default 1800000 */
  readonly installTimeoutMs?: number;
  /** How long apt waits for the dpkg lock another apt holds. @default 300 */
  readonly lockTimeoutSeconds?: number;
}

/** One stanza of a Packages index, the fields the installer checks. */
export interface PackagesEntry {
  readonly package: string;
  readonly version: string;
  readonly sha256: string | null;
}

/** Parses a Packages index (RFC 822 stanzas separated by blank lines). */
export function parsePackagesIndex(text: string): PackagesEntry[] {
  const entries: PackagesEntry[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      const match = /^([A-Za-z0-9][A-Za-z0-9-]*):\s*(.*)$/.exec(line);
      if (match) fields.set(match[1]!.toLowerCase(), match[2]!.trim());
    }
    const name = fields.get('package');
    const version = fields.get('version');
    if (name && version) entries.push({ package: name, version, sha256: fields.get('sha256') ?? null });
  }
  return entries;
}

/** The SHA-256 check of a release against its channel's index; a message when it fails. */
export function checkChannelEntry(release: ReleaseSpec, entries: readonly PackagesEntry[]): string | null {
  const { name, version, sha256 } = release.artifact;
  const channel = release.artifact.channel.distribution;
  const versions = entries.filter((e) => e.package === name);
  const entry = versions.find((e) => e.version === version);
  if (!entry) {
    const listed = versions.map((e) => e.version);
    return `channel "${channel}" does not list ${name} ${version} (${listed.length > 0 ? `it lists ${listed.join(', ')}` : `it lists no version of ${name}`}): promote the version to the channel first`;
  }
  if (entry.sha256?.toLowerCase() !== sha256.toLowerCase()) {
    return `channel "${channel}" lists ${name} ${version} with SHA-256 ${entry.sha256 ?? '(none)'}, but the release names ${sha256}: the channel holds another build of that version`;
  }
  return null;
}

const SCRIPT_NAMES: Readonly<Record<string, string>> = {
  'pre-installation': 'preinst',
  'post-installation': 'postinst',
  'pre-removal': 'prerm',
  'post-removal': 'postrm',
};

/** A dpkg progress line: the output after it until an error is the running script's own. */
const PROGRESS =
  /^(Setting up |Preparing to unpack |Unpacking |Removing |Selecting previously unselected |Processing triggers )/;

/**
 * What went wrong, in one message, from apt-get's output: a failed maintainer script with its own
 * last lines of output, else apt's errors (`E:` lines, unmet dependencies), else the exit code.
 */
export function aptFailureMessage(lines: readonly string[], exitCode: number | null): string {
  const failed = lines.findIndex((l) => /subprocess returned error exit status \d+/.test(l));
  if (failed >= 0) {
    const match =
      /(pre-installation|post-installation|pre-removal|post-removal) script subprocess returned error exit status (\d+)/.exec(
        lines[failed]!,
      );
    const errorAt = lines.findLastIndex((l, i) => i < failed && /^dpkg: error processing/.test(l));
    const end = errorAt >= 0 ? errorAt : failed;
    let start = end;
    while (start > 0 && !PROGRESS.test(lines[start - 1]!)) start -= 1;
    const own = lines
      .slice(start, end)
      .map((l) => l.trim())
      .filter((l) => l && !/^dpkg: warning/.test(l))
      .slice(-5);
    const script = match ? (SCRIPT_NAMES[match[1]!] ?? match[1]) : 'a maintainer script';
    const status = match ? ` with exit status ${match[2]}` : '';
    return `its ${script} failed${status}${own.length > 0 ? `: ${own.join(' / ')}` : ''}`;
  }
  const unmet = lines.filter((l) =>
    /\bDepends: .* but (it is not installable|.* is to be installed)/.test(l),
  );
  const errors = lines.filter((l) => /^E: /.test(l)).map((l) => l.slice(3));
  const parts = [...unmet.map((l) => l.trim()), ...errors].slice(-5);
  if (parts.length > 0) return parts.join(' / ');
  return `apt-get ${exitCode === null ? 'was killed' : `exited with code ${exitCode}`}`;
}

/** A command's result: its exit code and its output's last lines. */
interface RunResult {
  readonly code: number | null;
  readonly lines: readonly string[];
}

const KEPT_LINES = 400;

/**
 * Installs releases with apt-get from their APT channel (see the module comment); the agent uses it
 * on every host.
 */
export class AptInstaller implements Installer {
  readonly #directory: string;
  readonly #authFile: string;
  readonly #fetchTimeoutMs: number;
  readonly #installTimeoutMs: number;
  readonly #lockTimeoutSeconds: number;
  /** The release whose index was fetched and checked, and whose package is in the cache. */
  #prepared: string | undefined;

  constructor(options: AptInstallerOptions = {}) {
    this.#directory = options.directory ?? '/var/cache/slipway-agent/apt';
    this.#authFile = options.authFile ?? '/var/lib/slipway-agent/apt-auth.conf';
    this.#fetchTimeoutMs = options.fetchTimeoutMs ?? 300_000;
    this.#installTimeoutMs = options.installTimeoutMs ?? 1_800_000;
    this.#lockTimeoutSeconds = options.lockTimeoutSeconds ?? 300;
  }

  /** Writes the channel's source, key and auth, updates its index, checks the SHA-256, downloads. */
  async prepare(release: ReleaseSpec, context: InstallContext): Promise<void> {
    const { name, version } = release.artifact;
    const what = `${name} ${version}`;
    this.#prepared = undefined;
    await this.#configure(release, context.credential);
    context.log(`apt-get update (channel "${release.artifact.channel.distribution}" only)`);
    const update = await this.#apt(['update', '--error-on=any'], context, {
      timeoutMs: this.#fetchTimeoutMs,
      abortable: true,
    });
    if (update.code !== 0)
      throw new Error(
        `Cannot fetch the index of channel "${release.artifact.channel.distribution}": ${aptFailureMessage(update.lines, update.code)}`,
      );
    const problem = checkChannelEntry(release, await this.#channelEntries());
    if (problem) throw new Error(`Cannot install ${what}: ${problem}`);
    context.log(`channel entry of ${what} has the release's SHA-256 ${release.artifact.sha256}`);
    const download = await this.#apt(
      ['install', ...this.#installFlags(), '--download-only', `${name}=${version}`],
      context,
      {
        timeoutMs: this.#fetchTimeoutMs,
        abortable: true,
      },
    );
    if (download.code !== 0)
      throw new Error(`Cannot download ${what}: ${aptFailureMessage(download.lines, download.code)}`);
    this.#prepared = release.id;
  }

  /** `apt-get install name=version` (a downgrade when it is older), keeping the admin's conffiles. */
  async install(release: ReleaseSpec, context: InstallContext): Promise<void> {
    const { name, version } = release.artifact;
    if (this.#prepared !== release.id) await this.prepare(release, context);
    context.log(`apt-get install ${name}=${version}`);
    const result = await this.#apt(['install', ...this.#installFlags(), `${name}=${version}`], context, {
      timeoutMs: this.#installTimeoutMs,
      abortable: false, // never interrupt dpkg half-way: the package would be left half-installed
    });
    this.#prepared = undefined;
    if (result.code !== 0)
      throw new Error(`Cannot install ${name} ${version}: ${aptFailureMessage(result.lines, result.code)}`);
    const installed = await this.installedVersion(name);
    if (installed !== version) {
      throw new Error(
        `Cannot install ${name} ${version}: apt-get succeeded but dpkg has ${installed ?? 'no version'} installed and configured`,
      );
    }
  }

  /** `apt-get remove name`: prerm and postrm run with `remove`; conffiles stay (no purge). */
  async remove(packageName: string, context: InstallContext): Promise<void> {
    await this.#ensureDirectories();
    context.log(`apt-get remove ${packageName}`);
    const result = await this.#apt(['remove', '-y', packageName], context, {
      timeoutMs: this.#installTimeoutMs,
      abortable: false,
    });
    if (result.code !== 0)
      throw new Error(`Cannot remove ${packageName}: ${aptFailureMessage(result.lines, result.code)}`);
  }

  /** The version dpkg has installed and configured ("ii"), or null. */
  async installedVersion(packageName: string): Promise<string | null> {
    // dpkg-query's own ${field} syntax, not a template string.
    const format = ['-f=', '$', '{db:Status-Abbrev}\t', '$', '{Version}'].join('');
    const result = await run('dpkg-query', ['-W', format, packageName], {
      log: () => undefined,
      timeoutMs: 30_000,
    });
    if (result.code !== 0) return null;
    const [status, version] = (result.lines[0] ?? '').split('\t');
    return status?.startsWith('ii') && version ? version : null;
  }

  #installFlags(): string[] {
    return ['-y', '--allow-downgrades', '--no-install-recommends'];
  }

  async #ensureDirectories(): Promise<void> {
    const dir = this.#directory;
    for (const sub of ['', 'state/lists/partial', 'cache/archives/partial', 'auth.conf.d', 'log']) {
      await mkdir(join(dir, sub), { recursive: true, mode: 0o755 });
    }
    await chmod(dir, 0o755);
  }

  /** The private sources list (only the channel), its key, and auth.conf with the host credential. */
  async #configure(release: ReleaseSpec, credential: string | undefined): Promise<void> {
    await this.#ensureDirectories();
    const channel = release.artifact.channel;
    const url = new URL(channel.url);
    const base = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
    const keyring = join(this.#directory, 'channel-key.asc');
    if (channel.signedBy) await writePrivateFileAtomically(keyring, channel.signedBy);
    // apt's _apt user verifies the signature: the public key must be readable by it.
    if (channel.signedBy) await chmod(keyring, 0o644);
    const options = channel.signedBy ? ` [signed-by=${keyring}]` : '';
    await writePrivateFileAtomically(
      join(this.#directory, 'sources.list'),
      `# Written by the Slipway agent: the release's channel, nothing else.\ndeb${options} ${base} ${channel.distribution} ${channel.component}\n`,
    );
    await chmod(join(this.#directory, 'sources.list'), 0o644);
    // apt sends credentials over plain HTTP only when the machine line names the scheme.
    const machine =
      url.protocol === 'http:'
        ? `http://${url.host}${url.pathname.replace(/\/+$/, '')}`
        : `${url.host}${url.pathname.replace(/\/+$/, '')}`;
    const auth = credential ? `machine ${machine}\nlogin slipway-agent\npassword ${credential}\n` : '';
    await mkdir(join(this.#authFile, '..'), { recursive: true, mode: 0o700 });
    await writePrivateFileAtomically(this.#authFile, auth);
  }

  async #channelEntries(): Promise<PackagesEntry[]> {
    const lists = join(this.#directory, 'state', 'lists');
    const entries: PackagesEntry[] = [];
    for (const file of await readdir(lists)) {
      if (file.endsWith('_Packages'))
        entries.push(...parsePackagesIndex(await readFile(join(lists, file), 'utf8')));
    }
    return entries;
  }

  #apt(
    args: readonly string[],
    context: InstallContext,
    options: { timeoutMs: number; abortable: boolean },
  ): Promise<RunResult> {
    const dir = this.#directory;
    const config = [
      `Dir::Etc::sourcelist=${join(dir, 'sources.list')}`,
      'Dir::Etc::sourceparts=-',
      `Dir::Etc::netrc=${this.#authFile}`,
      `Dir::Etc::netrcparts=${join(dir, 'auth.conf.d')}`,
      `Dir::State=${join(dir, 'state')}`,
      `Dir::Cache=${join(dir, 'cache')}`,
      `Dir::Log=${join(dir, 'log')}`,
      'Acquire::Retries=2',
      'Acquire::Languages=none',
      // Lists kept plain (Debian's container images keep them compressed): the SHA-256 check reads them.
      'Acquire::GzipIndexes=false',
      `DPkg::Lock::Timeout=${this.#lockTimeoutSeconds}`,
      'Dpkg::Use-Pty=0',
      // Non-interactive conffile handling: keep what the admin changed, take the package's otherwise.
      'Dpkg::Options::=--force-confdef',
      'Dpkg::Options::=--force-confold',
    ].flatMap((o) => ['-o', o]);
    return run('apt-get', ['-q', ...config, ...args], {
      log: context.log,
      timeoutMs: options.timeoutMs,
      ...(options.abortable ? { signal: context.signal } : {}),
      env: { DEBIAN_FRONTEND: 'noninteractive', APT_LISTCHANGES_FRONTEND: 'none', NEEDRESTART_MODE: 'l' },
    });
  }
}

/** Runs a command, each output line to `log`, keeping the last lines; never throws. */
function run(
  command: string,
  args: readonly string[],
  options: {
    log: (line: string) => void;
    timeoutMs: number;
    signal?: AbortSignal;
    env?: Readonly<Record<string, string>>;
  },
): Promise<RunResult> {
  return new Promise((resolve) => {
    const kept: string[] = [];
    const lines = lineSplitter((line) => {
      kept.push(line);
      if (kept.length > KEPT_LINES) kept.shift();
      options.log(line);
    });
    const child = spawn(command, args, {
      env: {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        LANG: 'C.UTF-8',
        HOME: '/root',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', lines.push);
    child.stderr?.on('data', lines.push);
    const stop = (why: string) => {
      lines.push(`\n[slipway-agent] ${command} ${why}: stopped\n`);
      child.kill('SIGTERM');
    };
    const timer = setTimeout(() => stop(`ran longer than ${options.timeoutMs} ms`), options.timeoutMs);
    const onAbort = () => stop('was interrupted');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let done = false;
    const end = (code: number | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      lines.flush();
      resolve({ code, lines: kept });
    };
    child.once('error', (error) => {
      kept.push(`cannot start ${command}: ${error.message}`);
      end(null);
    });
    child.once('close', (code) => end(code));
  });
}
