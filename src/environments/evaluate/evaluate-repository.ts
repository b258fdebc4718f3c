/**
 * Evaluates an infrastructure repository's environment files in a sandbox: bubblewrap with no
 * network, the repository read-only, only the DSL and esbuild visible, a private /tmp for the
 * bundles. The sandbox prints JSON; the control plane validates it before trusting any of it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PACKAGE_ROOT, UnavailableError } from '../../core/index.ts';
import { type RepositoryValidation, validateRepository } from '../validate.ts';

/** Options of an evaluation. */
export interface EvaluateOptions {
  /** Longest an evaluation may run. @default 60 s */
  readonly timeoutMs?: number;
  /** Where Slipway's package is (its dist/ and node_modules/). @default the running package */
  readonly packageRoot?: string;
}

const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/** The bubblewrap arguments of an evaluation sandbox. */
function sandboxArguments(repository: string, packageRoot: string): string[] {
  const node = process.execPath;
  const args = [
    '--unshare-all',
    '--die-with-parent',
    '--new-session',
    '--ro-bind',
    '/usr',
    '/usr',
    '--symlink',
    'usr/bin',
    '/bin',
    '--symlink',
    'usr/sbin',
    '/sbin',
    '--symlink',
    'usr/lib',
    '/lib',
    '--symlink',
    'usr/lib64',
    '/lib64',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    '--tmpfs',
    '/tmp',
    '--ro-bind',
    repository,
    '/repo',
    '--ro-bind',
    join(packageRoot, 'dist', 'environments'),
    '/slipway/dist/environments',
    '--ro-bind',
    join(packageRoot, 'node_modules', 'esbuild'),
    '/slipway/node_modules/esbuild',
    '--ro-bind',
    join(packageRoot, 'node_modules', '@esbuild'),
    '/slipway/node_modules/@esbuild',
    '--chdir',
    '/repo',
  ];
  if (!node.startsWith('/usr/')) args.push('--ro-bind', dirname(node), dirname(node));
  return [
    ...args,
    '--',
    node,
    '--max-old-space-size=256',
    '/slipway/dist/environments/evaluate/sandbox-runner.js',
    '/repo',
    '/slipway/dist/environments/dsl/index.js',
    '/tmp/out',
  ];
}

/**
 * Evaluates every `environments/*.ts` file of the repository checked out at `directory` and
 * validates the result: the environments, and every problem with its file and property path.
 * @throws UnavailableError when the sandbox cannot run (bubblewrap or Slipway's build is missing)
 */
export async function evaluateRepository(
  directory: string,
  options: EvaluateOptions = {},
): Promise<RepositoryValidation> {
  const packageRoot = options.packageRoot ?? PACKAGE_ROOT;
  if (!existsSync(join(packageRoot, 'dist', 'environments', 'evaluate', 'sandbox-runner.js'))) {
    throw new UnavailableError('Cannot evaluate environment files: Slipway has not been built', {
      hint: 'Run `npm run build` in the Slipway checkout, then try again',
      retryable: false,
    });
  }
  const output = await runSandbox(sandboxArguments(directory, packageRoot), options.timeoutMs ?? 60_000);
  return validateRepository(output);
}

function runSandbox(args: string[], timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn('bwrap', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: '/tmp' },
    });
    const stdout: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let failure: Error | undefined;
    const timer = setTimeout(() => {
      failure = new UnavailableError(
        `Cannot evaluate environment files: they ran longer than ${timeoutMs / 1000} s`,
        {
          hint: 'Look for loops or waits in the environment files; they must only build definitions',
          retryable: false,
        },
      );
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OUTPUT_BYTES) {
        failure ??= new UnavailableError('Cannot evaluate environment files: they printed too much', {
          hint: 'Environment files must not write to standard output',
          retryable: false,
        });
        child.kill('SIGKILL');
        return;
      }
      stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 20_000) stderr += chunk.toString();
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(
        new UnavailableError('Cannot evaluate environment files: bubblewrap (bwrap) cannot be started', {
          hint: 'Install bubblewrap (apt-get install bubblewrap, or run scripts/setup.sh as root)',
          cause: error,
          retryable: false,
        }),
      );
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      const text = Buffer.concat(stdout).toString('utf8').trim();
      const lastLine = text.slice(text.lastIndexOf('\n') + 1);
      if (code !== 0 || !lastLine) {
        return reject(
          new UnavailableError('Cannot evaluate environment files: the sandbox failed', {
            hint: "Read the details; they are the sandbox's own error output",
            details: { exitCode: code, stderr: stderr.slice(-4000) },
            retryable: false,
          }),
        );
      }
      try {
        resolve(JSON.parse(lastLine));
      } catch (error) {
        reject(
          new UnavailableError(
            'Cannot evaluate environment files: the sandbox printed something that is not JSON',
            {
              hint: 'Environment files must not write to standard output',
              cause: error,
              retryable: false,
            },
          ),
        );
      }
    });
  });
}
