import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppRow } from './apps.ts';
import { StepFailedError } from './errors.ts';
import type { ExecutorPaths } from './executor.ts';
import { formatMs } from './format-ms.ts';
import { exportCommit, hasCommit, latestVersionTag, readFileAtCommit, syncMirror } from './git.ts';
import type { BuildWorkspace } from './pipeline-step.ts';
import type { RunLogWriter } from './run-log.ts';
import type { RunRow } from './runs.ts';
import { type BuildUser, baseBuildEnvironment, makeBuildDirectory, runInSandbox } from './sandbox.ts';

/** What a run's workspace is made from. */
export interface WorkspaceOptions {
  readonly run: RunRow;
  readonly app: AppRow;
  /** The attempt's own directory: the checkout goes in `workspace/`, outputs in `out/`. */
  readonly workDir: string;
  readonly paths: ExecutorPaths;
  readonly user: BuildUser;
  readonly log: RunLogWriter;
  /** The step running now and its signal (aborted on its timeout, a cancel, or a stop). */
  readonly current: () => { readonly step: string | null; readonly signal: AbortSignal | undefined };
}

/**
 * Makes an attempt's fresh workspace (owned by the build user), its private output directory and the
 * app's cache, and the operations steps use on them: check out, read the commit, run in the sandbox.
 */
export async function createWorkspace(options: WorkspaceOptions): Promise<BuildWorkspace> {
  const { run, app, workDir, paths, user, log, current } = options;
  const root = join(workDir, 'workspace');
  const outDir = join(workDir, 'out');
  const cacheDir = join(paths.caches, app.id);
  const mirror = join(paths.mirrors, `${app.id}.git`);
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true, mode: 0o711 });
  await makeBuildDirectory(root, user);
  await mkdir(outDir, { mode: 0o700 });
  await makeBuildDirectory(cacheDir, user);
  const appDir = app.path === '.' ? root : join(root, app.path);
  const insideDir = app.path === '.' ? '/workspace' : `/workspace/${app.path}`;
  const withSignal = () => {
    const { signal } = current();
    return signal ? { signal } : {};
  };
  return {
    root,
    appDir,
    outDir,
    async checkout() {
      await syncMirror(app.repository, mirror, { timeoutMs: 10 * 60_000, ...withSignal() });
      if (!(await hasCommit(mirror, run.commit))) {
        throw new StepFailedError(`Cannot check out ${run.commit}: the repository has no such commit`, {
          hint: 'It may have been force-pushed away; push again to build the branch as it is now',
        });
      }
      await exportCommit(mirror, run.commit, root, { user, ...withSignal() });
    },
    readCommitFile: (path) => readFileAtCommit(mirror, run.commit, path),
    latestVersionTag: () => latestVersionTag(mirror, run.commit),
    async run(command) {
      const { step } = current();
      log.line(step, `$ ${command.name ? `# ${command.name}\n$ ` : ''}${command.command}`);
      const result = await runInSandbox(
        {
          workspace: root,
          cacheDir,
          cwd: insideDir,
          network: command.network ?? app.network,
          user,
          hidden: paths.hidden,
        },
        {
          command: command.command,
          env: { ...baseBuildEnvironment({ cacheDir }), ...command.env },
          timeoutMs: command.timeoutMs,
          ...withSignal(),
          onOutput: (text) => log.write(step, text),
        },
      );
      const what = command.name ? `"${command.name}"` : `"${command.command}"`;
      if (result.timedOut)
        throw new StepFailedError(`${what} timed out after ${formatMs(command.timeoutMs)}`);
      if (result.aborted) throw new StepFailedError(`${what} was stopped`);
      if (result.exitCode !== 0) {
        throw new StepFailedError(
          `${what} ${result.exitCode === null ? `was killed by ${result.signal}` : `exited with status ${result.exitCode}`}`,
        );
      }
      log.line(step, `   (${formatMs(result.durationMs)})`);
    },
  };
}
