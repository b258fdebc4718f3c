/**
 * The tracked infrastructure repository: a local path or a git URL, and a branch. Local paths are
 * read in place with git; URLs are fetched into a bare mirror in the data directory. A commit is
 * exported into a temporary directory for the evaluation sandbox, and removed afterwards.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import { SourceUnavailableError } from './errors.ts';
import type { EnvironmentsTables, Source as SourceView } from './schema.ts';

const run = promisify(execFile);
type Db = Kysely<EnvironmentsTables>;

/** What is tracked. */
export interface SourceSettings {
  /** An absolute path to a git repository on this machine, or a git URL. */
  readonly url: string;
  readonly branch: string;
  /** How often the branch is checked for new commits. */
  readonly pollIntervalMs: number;
}

/** Whether the source is a path on this machine (read in place) rather than a URL (mirrored). */
export function isLocalPath(url: string): boolean {
  return isAbsolute(url) || url.startsWith('file://');
}

function localPath(url: string): string {
  return url.startsWith('file://') ? new URL(url).pathname : url;
}

/** The tracked source, or undefined when none is set. */
export async function getSource(db: Db): Promise<SourceView | undefined> {
  const row = await db.selectFrom('environment_source').selectAll().where('id', '=', 1).executeTakeFirst();
  if (!row) return undefined;
  return {
    url: row.url,
    branch: row.branch,
    pollIntervalMs: row.poll_interval_ms,
    lastCommit: row.last_commit,
    lastCheckedAt: row.last_checked_at?.toISOString() ?? null,
    lastError: (row.last_error as SourceView['lastError']) ?? null,
    updatedBy: row.updated_by,
    updatedAt: row.updated_at.toISOString(),
  };
}

/** Sets what is tracked; the next check plans every environment it defines that changed. */
export async function setSource(db: Db, settings: SourceSettings, actor: string): Promise<SourceView> {
  await db
    .insertInto('environment_source')
    .values({
      id: 1,
      url: settings.url,
      branch: settings.branch,
      poll_interval_ms: settings.pollIntervalMs,
      updated_by: actor,
    })
    .onConflict((oc) =>
      oc.column('id').doUpdateSet({
        url: settings.url,
        branch: settings.branch,
        poll_interval_ms: settings.pollIntervalMs,
        updated_by: actor,
        updated_at: new Date(),
        last_checked_at: null,
        last_error: null,
      }),
    )
    .execute();
  return (await getSource(db))!;
}

/** Records the outcome of a check. */
export async function recordSourceCheck(
  db: Db,
  outcome: {
    commit?: string;
    error?: { message: string; problems?: unknown[]; commit?: string | null } | null;
  },
  now: Date,
): Promise<void> {
  await db
    .updateTable('environment_source')
    .set({
      last_checked_at: now,
      ...(outcome.commit ? { last_commit: outcome.commit } : {}),
      last_error: outcome.error ? JSON.stringify(outcome.error) : null,
    })
    .where('id', '=', 1)
    .execute();
}

/** Asks for a check on the next tick of the GitOps loop. */
export async function requestSourceCheck(db: Db): Promise<void> {
  await db.updateTable('environment_source').set({ last_checked_at: null }).where('id', '=', 1).execute();
}

async function git(args: string[], cwd?: string): Promise<string> {
  const { stdout } = await run('git', args, {
    cwd,
    timeout: 120_000,
    maxBuffer: 16 * 1024 * 1024,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), GIT_TERMINAL_PROMPT: '0', LANG: 'C' },
  });
  return stdout.trim();
}

/**
 * The commit the branch points at now (fetching a URL into `mirrorDirectory` first).
 * @throws SourceUnavailableError when git cannot read it
 */
export async function headCommit(
  settings: SourceSettings,
  mirrorDirectory: string,
): Promise<{ commit: string; repository: string }> {
  if (!/^[A-Za-z0-9._/-]+$/.test(settings.branch) || settings.branch.startsWith('-')) {
    throw new SourceUnavailableError(settings.url, settings.branch, 'the branch name is not valid');
  }
  try {
    if (isLocalPath(settings.url)) {
      const path = localPath(settings.url);
      if (!existsSync(path)) throw new Error(`"${path}" does not exist`);
      const commit = await git([
        '-C',
        path,
        'rev-parse',
        '--verify',
        '--end-of-options',
        `refs/heads/${settings.branch}^{commit}`,
      ]);
      return { commit, repository: path };
    }
    if (!existsSync(join(mirrorDirectory, 'HEAD'))) {
      await mkdir(mirrorDirectory, { recursive: true, mode: 0o700 });
      await git(['init', '--bare', '--quiet', mirrorDirectory]);
    }
    await git([
      '-C',
      mirrorDirectory,
      'fetch',
      '--quiet',
      '--force',
      '--no-tags',
      '--',
      settings.url,
      `+refs/heads/${settings.branch}:refs/slipway/tracked`,
    ]);
    const commit = await git([
      '-C',
      mirrorDirectory,
      'rev-parse',
      '--verify',
      'refs/slipway/tracked^{commit}',
    ]);
    return { commit, repository: mirrorDirectory };
  } catch (error) {
    const reason = ((error as { stderr?: string }).stderr || (error as Error).message)
      .trim()
      .split('\n')
      .slice(-2)
      .join(' ');
    throw new SourceUnavailableError(settings.url, settings.branch, reason);
  }
}

/** Exports `commit` of `repository` into a new temporary directory; the caller removes it. */
export async function exportCommit(repository: string, commit: string): Promise<string> {
  if (!/^[0-9a-f]{40,64}$/.test(commit)) throw new Error(`not a commit id: ${commit}`);
  const directory = await mkdtemp(join(tmpdir(), 'slipway-infra-'));
  try {
    const archive = spawn('git', ['-C', repository, 'archive', '--format=tar', commit], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const untar = spawn('tar', ['-x', '-C', directory], { stdio: ['pipe', 'ignore', 'pipe'] });
    archive.stdout.pipe(untar.stdin);
    let stderr = '';
    for (const child of [archive, untar]) {
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
      });
    }
    const exit = (child: typeof archive | typeof untar) =>
      new Promise<number | null>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', resolve);
      });
    const [archiveCode, untarCode] = await Promise.all([exit(archive), exit(untar)]);
    if (archiveCode !== 0 || untarCode !== 0)
      throw new Error(stderr.trim() || `git archive exited ${archiveCode}, tar ${untarCode}`);
    return directory;
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
}
