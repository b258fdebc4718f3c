/**
 * Evaluating the tracked repository at the head of its branch: fetch (for URLs), export the commit,
 * run the sandbox, validate, and check that the users and groups it binds exist. One evaluation per
 * commit is kept, so many plans of one commit cost one sandbox run.
 */
import { rm } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import { NoSourceError } from './errors.ts';
import { evaluateRepository } from './evaluate/evaluate-repository.ts';
import type { DefinitionProblem } from './model.ts';
import { subjectProblems } from './plans.ts';
import { exportCommit, getSource, headCommit } from './source.ts';
import type { RepositoryValidation } from './validate.ts';

/** A repository evaluated at one commit. */
export interface SourceEvaluation {
  readonly commit: string;
  /** The URL or path and branch, for the record. */
  readonly source: string;
  readonly validation: RepositoryValidation;
  /** Every problem, including users and groups that do not exist. */
  readonly problems: readonly DefinitionProblem[];
}

let cached: { key: string; validation: RepositoryValidation } | undefined;

/**
 * Evaluates the head of the tracked branch.
 * @throws NoSourceError when nothing is tracked; SourceUnavailableError when git cannot read it
 */
export async function evaluateSourceHead(
  db: Kysely<any>,
  mirrorDirectory: string,
): Promise<SourceEvaluation> {
  const source = await getSource(db);
  if (!source) throw new NoSourceError();
  const { commit, repository } = await headCommit(source, mirrorDirectory);
  const key = `${repository}\n${commit}`;
  let validation = cached?.key === key ? cached.validation : undefined;
  if (!validation) {
    const directory = await exportCommit(repository, commit);
    try {
      validation = await evaluateRepository(directory);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
    cached = { key, validation };
  }
  const subjects: DefinitionProblem[] = [];
  for (const environment of validation.environments)
    subjects.push(...(await subjectProblems(db, environment.file, environment.model)));
  return {
    commit,
    source: `${source.url}#${source.branch}`,
    validation,
    problems: [...validation.problems, ...subjects],
  };
}
