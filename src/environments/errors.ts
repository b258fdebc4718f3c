import { ConflictError, InvalidInputError, NotFoundError, UnavailableError } from '../core/index.ts';
import type { DefinitionProblem } from './model.ts';
import { formatProblems } from './validate.ts';

/** No environment of that name is known (applied, planned or defined). */
export class EnvironmentNotFoundError extends NotFoundError {
  constructor(readonly environment: string) {
    super(`Cannot find environment "${environment}"`, {
      hint: 'Run `slipway env list` to see the environments, or define it in the infrastructure repository',
    });
  }
}

/** The repository's definitions have problems; nothing is planned or applied. */
export class DefinitionProblemsError extends InvalidInputError {
  constructor(
    readonly problems: readonly DefinitionProblem[],
    readonly commit: string | null,
  ) {
    super(
      `Cannot use the infrastructure repository${commit ? ` at ${commit.slice(0, 12)}` : ''}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in its definitions:\n${formatProblems(problems)}`,
      {
        hint: 'Fix every problem listed (file, property path, value and fix are given), commit, and plan again; nothing running was touched',
        details: { problems },
        retryable: false,
      },
    );
  }
}

/** No infrastructure repository is tracked yet. */
export class NoSourceError extends ConflictError {
  constructor() {
    super('Cannot plan: no infrastructure repository is tracked', {
      hint: 'Run `slipway env source set URL_OR_PATH --branch main` as a platform administrator',
      retryable: false,
    });
  }
}

/** The repository does not define the environment. */
export class EnvironmentNotDefinedError extends NotFoundError {
  constructor(
    readonly environment: string,
    readonly commit: string,
    readonly defined: readonly string[],
  ) {
    super(
      `Cannot plan "${environment}": the infrastructure repository at ${commit.slice(0, 12)} does not define it`,
      {
        hint:
          defined.length > 0
            ? `It defines: ${defined.join(', ')}. Add environments/${environment}.ts to define it`
            : `Add environments/${environment}.ts to the repository`,
      },
    );
  }
}

/** The plan cannot be applied (already applied, superseded, or of another environment). */
export class PlanNotApplicableError extends ConflictError {
  constructor(message: string, hint: string) {
    super(message, { hint, retryable: false });
  }
}

/** The repository cannot be read. */
export class SourceUnavailableError extends UnavailableError {
  constructor(url: string, branch: string, reason: string) {
    super(`Cannot read branch "${branch}" of the infrastructure repository "${url}": ${reason}`, {
      hint: 'Check the URL or path and the branch (`slipway env source show`), and that git can reach it',
    });
  }
}
