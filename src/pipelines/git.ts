import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StepFailedError } from './errors.ts';
import type { BuildUser } from './sandbox.ts';

/**
 * Git as Slipway runs it: never prompting, only the transports repositories are registered with
 * (no `ext::`, which runs commands), and nothing of the user's own git configuration.
 */
const GIT_ENVIRONMENT: Readonly<Record<string, string>> = {
  PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
  HOME: '/nonexistent',
  GIT_TERMINAL_PROMPT: '0',
  GIT_ALLOW_PROTOCOL: 'file:git:http:https:ssh',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_SSH_COMMAND: 'ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new',
  LANG: 'C.UTF-8',
};

/** Options of one git command. */
export interface GitOptions {
  readonly cwd?: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Runs git and returns its standard output.
 * @throws StepFailedError with git's own message
 */
export function git(args: readonly string[], options: GitOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      [...args],
      {
        env: GIT_ENVIRONMENT,
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 << 20,
        ...(options.cwd ? { cwd: options.cwd } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (error, stdout, stderr) => {
        if (!error) {
          resolve(stdout);
          return;
        }
        const message = String(stderr || error.message)
          .trim()
          .split('\n')
          .filter((line) => line.trim() !== '')
          .slice(-3)
          .join('; ');
        reject(new StepFailedError(`git ${args[0]} failed: ${message}`, { cause: error }));
      },
    );
  });
}

/** Serialises work on one mirror within this process (git itself guards against other processes). */
const MIRROR_LOCKS = new Map<string, Promise<unknown>>();

function withMirrorLock<T>(path: string, work: () => Promise<T>): Promise<T> {
  const previous = MIRROR_LOCKS.get(path) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(work);
  MIRROR_LOCKS.set(path, next);
  const release = () => {
    if (MIRROR_LOCKS.get(path) === next) MIRROR_LOCKS.delete(path);
  };
  next.then(release, release);
  return next;
}

/**
 * Brings a bare mirror of the repository up to date (cloned on first use): every branch and tag.
 * Returns the mirror's path.
 */
export async function syncMirror(
  repository: string,
  mirror: string,
  options: GitOptions = {},
): Promise<string> {
  return withMirrorLock(mirror, async () => {
    if (!existsSync(mirror)) {
      await mkdir(dirname(mirror), { recursive: true, mode: 0o700 });
      const partial = `${mirror}.partial`;
      await rm(partial, { recursive: true, force: true });
      await git(['clone', '--mirror', '--quiet', '--', repository, partial], options);
      await rm(mirror, { recursive: true, force: true });
      await rename(partial, mirror);
      return mirror;
    }
    await git(['remote', 'set-url', 'origin', '--', repository], { ...options, cwd: mirror });
    await git(
      [
        'fetch',
        '--quiet',
        '--prune',
        '--force',
        'origin',
        '+refs/heads/*:refs/heads/*',
        '+refs/tags/*:refs/tags/*',
      ],
      { ...options, cwd: mirror },
    );
    return mirror;
  });
}

/** The commit a branch points at in a repository (without cloning), or undefined when it has none. */
export async function remoteBranchHead(
  repository: string,
  branch: string,
  options: GitOptions = {},
): Promise<string | undefined> {
  const out = await git(['ls-remote', '--', repository, `refs/heads/${branch}`], options);
  const line = out.split('\n').find((l) => l.endsWith(`\trefs/heads/${branch}`));
  return line?.split('\t')[0];
}

/** Whether the mirror has this commit. */
export async function hasCommit(mirror: string, commit: string): Promise<boolean> {
  return git(['cat-file', '-e', `${commit}^{commit}`], { cwd: mirror }).then(
    () => true,
    () => false,
  );
}

/** A file's content at a commit, or undefined when the commit has no such file. */
export async function readFileAtCommit(
  mirror: string,
  commit: string,
  path: string,
): Promise<string | undefined> {
  return git(['show', `${commit}:${path}`], { cwd: mirror }).catch(() => undefined);
}

/** The base version of the newest `vX.Y.Z` tag reachable from a commit, or undefined. */
export async function latestVersionTag(mirror: string, commit: string): Promise<string | undefined> {
  const out = await git(['tag', '--merged', commit, '--list', 'v[0-9]*', '--sort=-v:refname'], {
    cwd: mirror,
  }).catch(() => '');
  for (const tag of out.split('\n')) {
    const match = /^v(\d+(\.\d+){0,3})$/.exec(tag.trim());
    if (match) return match[1];
  }
  return undefined;
}

/**
 * Writes the tree of a commit into `destination` (git archive piped into tar), as the build user,
 * so every file of the workspace is theirs. Nothing of the repository's history comes along.
 */
export function exportCommit(
  mirror: string,
  commit: string,
  destination: string,
  options: { readonly user?: BuildUser; readonly signal?: AbortSignal } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const archive = spawn('git', ['archive', '--format=tar', commit], {
      cwd: mirror,
      env: GIT_ENVIRONMENT,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const asUser =
      options.user && process.getuid?.() === 0 ? { uid: options.user.uid, gid: options.user.gid } : {};
    const untar = spawn('tar', ['-x', '--no-same-owner', '-C', destination], {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { PATH: GIT_ENVIRONMENT.PATH! },
      ...asUser,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    archive.stdout.pipe(untar.stdin);
    let errors = '';
    archive.stderr.on('data', (chunk) => {
      errors += chunk;
    });
    untar.stderr.on('data', (chunk) => {
      errors += chunk;
    });
    let pending = 2;
    let failed = false;
    const done = (what: string) => (code: number | null) => {
      if (code !== 0 && !failed) {
        failed = true;
        reject(
          new StepFailedError(`Cannot check out ${commit.slice(0, 12)}: ${what} failed: ${errors.trim()}`),
        );
      }
      pending -= 1;
      if (pending === 0 && !failed) resolve();
    };
    archive.on('error', reject);
    untar.on('error', reject);
    archive.on('close', done('git archive'));
    untar.on('close', done('tar'));
  });
}
