import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ReleaseSpec } from './desired-state.ts';

/** What running a release's steps needs. */
export interface ReleaseStepsContext {
  /** One line of output (the caller removes secret values). */
  log(line: string): void;
  readonly signal?: AbortSignal;
}

/** The user a release runs as, with what its steps' environment needs. */
export interface AppUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/**
 * The app user of a release from the host's /etc/passwd (the package's preinst creates it), or
 * undefined for root (no `install.user`).
 * @throws Error naming the user when it does not exist
 */
export function appUser(release: Pick<ReleaseSpec, 'install'>, passwd = '/etc/passwd'): AppUser | undefined {
  const name = release.install.user;
  if (name === null) return undefined;
  const fields = readFileSync(passwd, 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((f) => f[0] === name || (/^\d+$/.test(name) && f[2] === name));
  if (!fields) {
    throw new Error(
      `cannot run the release as "${name}": the user is not in /etc/passwd (the package's preinst should create it)`,
    );
  }
  return { name: fields[0]!, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] || '/' };
}

/** umask 077 before the command, so whatever a step writes (a config cache holds secrets) is private. */
const UMASK_WRAPPER = ['/bin/sh', '-c', 'umask 077 && exec "$@"', 'slipway-step'];

/**
 * Runs a release's steps in order, each as the app user under umask 077 in `install.directory`,
 * with a plain environment (the app reads its env file). Output goes to `context.log` line by line.
 * @throws Error naming the first step that failed, timed out or could not start; later steps do not run
 */
export async function runReleaseSteps(release: ReleaseSpec, context: ReleaseStepsContext): Promise<void> {
  if (release.steps.length === 0) return;
  const user = appUser(release);
  for (const step of release.steps) {
    context.signal?.throwIfAborted();
    context.log(`step ${step.name}: ${step.command.join(' ')}`);
    const outcome = await runStep(step, release.install.directory, user, context);
    if (outcome !== 'ok') throw new Error(`the release step "${step.name}" ${outcome}`);
    context.log(`step ${step.name}: done`);
  }
}

function runStep(
  step: ReleaseSpec['steps'][number],
  directory: string,
  user: AppUser | undefined,
  context: ReleaseStepsContext,
): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(UMASK_WRAPPER[0]!, [...UMASK_WRAPPER.slice(1), ...step.command], {
      cwd: directory,
      env: {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        LANG: 'C.UTF-8',
        HOME: user?.home ?? '/root',
        USER: user?.name ?? 'root',
        LOGNAME: user?.name ?? 'root',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: a timeout ends whatever it started too
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    const lines = lineSplitter(context.log);
    child.stdout?.on('data', lines.push);
    child.stderr?.on('data', lines.push);
    let reason: string | undefined;
    const kill = (why: string) => {
      reason ??= why;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => kill(`ran longer than ${step.timeoutMs} ms: killed`), step.timeoutMs);
    const onAbort = () => kill('was interrupted: the agent is stopping');
    context.signal?.addEventListener('abort', onAbort, { once: true });
    let done = false;
    const end = (outcome: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      context.signal?.removeEventListener('abort', onAbort);
      lines.flush();
      resolve(outcome);
    };
    child.once('error', (error) => end(`could not start: ${error.message}`));
    child.once('close', (code, signal) =>
      end(reason ?? (code === 0 ? 'ok' : `exited with ${signal ? `signal ${signal}` : `code ${code}`}`)),
    );
  });
}

/** Cuts a stream of chunks into lines. */
export function lineSplitter(onLine: (line: string) => void): {
  push: (chunk: Buffer | string) => void;
  flush: () => void;
} {
  let partial = '';
  return {
    push: (chunk) => {
      const text = partial + chunk.toString();
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) onLine(line.replace(/\r$/, ''));
    },
    flush: () => {
      if (partial) onLine(partial);
      partial = '';
    },
  };
}
