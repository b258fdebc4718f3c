import { execFile, spawn } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { chown, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../core/index.ts';
import type { NetworkPolicy } from './schema.ts';

const execFileAsync = promisify(execFile);

/** The OS user builds run as when Slipway runs as root. */
export const DEFAULT_BUILD_USER = 'slipway-build';

/** Who a build runs as. */
export interface BuildUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

async function lookupUser(name: string): Promise<BuildUser | undefined> {
  const { stdout } = await execFileAsync('getent', ['passwd', name]).catch(() => ({ stdout: '' }));
  const fields = stdout.trim().split(':');
  if (fields.length < 4) return undefined;
  return { name, uid: Number(fields[2]), gid: Number(fields[3]) };
}

/**
 * The unprivileged user builds run as, created as a system user (no home, no login shell) when it is
 * missing. When Slipway itself is not root it cannot switch users: builds then run as Slipway's own
 * user, still inside the sandbox.
 */
export async function ensureBuildUser(name = DEFAULT_BUILD_USER, logger?: Logger): Promise<BuildUser> {
  if (!isRoot()) {
    return {
      name: process.env.USER ?? 'current',
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
    };
  }
  const existing = await lookupUser(name);
  if (existing) return existing;
  await execFileAsync('useradd', [
    '--system',
    '--user-group',
    '--no-create-home',
    '--home-dir',
    '/nonexistent',
    '--shell',
    '/usr/sbin/nologin',
    '--comment',
    'Slipway builds',
    name,
  ]).catch(() => undefined); // another control plane may have created it at the same moment
  const created = await lookupUser(name);
  if (!created) throw new Error(`Cannot create the build user "${name}" (useradd failed)`);
  logger?.info({ user: name, uid: created.uid }, 'created the build user');
  return created;
}

/**
 * Makes a directory the build user owns, with every ancestor passable by others (mode o+x): bubblewrap
 * runs as that user and must reach the directory to mount it.
 */
export async function makeBuildDirectory(path: string, user: BuildUser): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  await chown(path, user.uid, user.gid);
}

/** The first ancestor of `path` that other users cannot pass through, or undefined. */
export async function firstClosedAncestor(path: string): Promise<string | undefined> {
  const chain: string[] = [];
  for (let current = resolve(path); ; current = dirname(current)) {
    chain.unshift(current);
    if (dirname(current) === current) break;
  }
  for (const dir of chain) {
    const info = await stat(dir).catch(() => undefined);
    if (!info) return undefined;
    if ((info.mode & 0o001) === 0) return dir;
  }
  return undefined;
}

/** Where and how one sandboxed command runs. */
export interface SandboxSpec {
  /** The build's workspace on the host, mounted read-write at /workspace. */
  readonly workspace: string;
  /** A cache directory kept between runs of one app, mounted read-write at /cache. */
  readonly cacheDir?: string;
  /** Where the command starts, inside the sandbox (such as /workspace/apps/web). */
  readonly cwd: string;
  readonly network: NetworkPolicy;
  readonly user: BuildUser;
  /** Host paths that must stay invisible even if they lie below a mounted directory. */
  readonly hidden?: readonly string[];
}

/** One command. */
export interface SandboxCommand {
  /** A shell command line (`sh -c`). */
  readonly command: string;
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** Output as it comes, stdout and stderr interleaved. */
  readonly onOutput: (text: string) => void;
}

/** How a command ended. */
export interface SandboxResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  readonly durationMs: number;
}

/** System directories the sandbox sees, read-only. Nothing else of the host is there. */
const READ_ONLY_SYSTEM = ['/usr', '/etc'];

/**
 * The bubblewrap arguments of a sandbox: a new root with read-only /usr and /etc, fresh /proc,
 * /dev and /tmp, the workspace and the app's cache, and nothing else of the host (not Slipway's data
 * directory, not other apps' workspaces, not /home, /root or /var). New PID, IPC, UTS and user
 * namespaces always; a new network namespace (loopback only) when the network is denied.
 */
export function sandboxArguments(spec: SandboxSpec): string[] {
  const args = ['--die-with-parent', '--new-session', '--unshare-all'];
  if (spec.network === 'allowed') args.push('--share-net');
  for (const dir of READ_ONLY_SYSTEM) args.push('--ro-bind', dir, dir);
  // Merged /usr: /bin, /sbin, /lib… are links into /usr on Debian 12.
  for (const link of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    const info = existsSync(link) ? lstatSync(link) : undefined;
    if (info?.isSymbolicLink()) args.push('--symlink', `usr${link}`, link);
    else if (info?.isDirectory()) args.push('--ro-bind', link, link);
  }
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--tmpfs', '/run', '--tmpfs', '/var/tmp');
  args.push('--bind', spec.workspace, '/workspace');
  if (spec.cacheDir) args.push('--bind', spec.cacheDir, '/cache');
  for (const hidden of spec.hidden ?? []) {
    const path = resolve(hidden);
    if (READ_ONLY_SYSTEM.some((dir) => path === dir || path.startsWith(`${dir}/`)))
      args.push('--tmpfs', path);
  }
  args.push('--hostname', 'slipway-build', '--chdir', spec.cwd);
  return args;
}

/** The environment every build command starts from (nothing of Slipway's own leaks in). */
export function baseBuildEnvironment(spec: Pick<SandboxSpec, 'cacheDir'>): Record<string, string> {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: '/tmp',
    TMPDIR: '/tmp',
    LANG: 'C.UTF-8',
    CI: 'true',
    ...(spec.cacheDir
      ? {
          npm_config_cache: '/cache/npm',
          COMPOSER_CACHE_DIR: '/cache/composer',
          XDG_CACHE_HOME: '/cache/xdg',
        }
      : {}),
  };
}

/**
 * Runs one command in a fresh bubblewrap sandbox as the build user. A timeout or an abort kills the
 * whole sandbox (its PID namespace dies with it).
 */
export function runInSandbox(spec: SandboxSpec, command: SandboxCommand): Promise<SandboxResult> {
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bwrap', [...sandboxArguments(spec), '--', '/bin/sh', '-c', command.command], {
      env: { ...command.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      ...(isRoot() ? { uid: spec.user.uid, gid: spec.user.gid } : {}),
    });
    let timedOut = false;
    let aborted = false;
    const kill = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, command.timeoutMs);
    const onAbort = () => {
      aborted = true;
      kill();
    };
    if (command.signal?.aborted) onAbort();
    command.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8').on('data', command.onOutput);
    child.stderr.setEncoding('utf8').on('data', command.onOutput);
    child.on('error', (error) => {
      clearTimeout(timer);
      command.signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      command.signal?.removeEventListener('abort', onAbort);
      resolvePromise({ exitCode, signal, timedOut, aborted, durationMs: performance.now() - started });
    });
  });
}
