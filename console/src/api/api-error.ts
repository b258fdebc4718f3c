/** A field the server rejected, as listed in an error's details. */
export interface FieldProblem {
  /** Where the problem is: "body.password", "query.scope". */
  readonly path: string;
  readonly message: string;
}

/** The error body every Slipway API answer uses: `{ error: { code, message, hint?, details?, requestId } }`. */
export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
  readonly details?: unknown;
  readonly requestId?: string;
}

/** An API call that failed: the server's message and hint, or why the server could not be reached. */
export class ApiError extends Error {
  readonly code: string;
  readonly hint?: string;
  readonly details?: unknown;
  readonly requestId?: string;
  /** The HTTP status, or 0 when no answer came. */
  readonly status: number;

  constructor(status: number, body: ErrorBody) {
    super(body.message);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code;
    if (body.hint !== undefined) this.hint = body.hint;
    if (body.details !== undefined) this.details = body.details;
    if (body.requestId !== undefined) this.requestId = body.requestId;
  }

  /** The field problems of a validation error, when the details list them. */
  get fieldProblems(): readonly FieldProblem[] {
    if (!Array.isArray(this.details)) return [];
    return this.details.filter(
      (item): item is FieldProblem =>
        typeof item === 'object' &&
        item !== null &&
        typeof (item as FieldProblem).path === 'string' &&
        typeof (item as FieldProblem).message === 'string',
    );
  }

  /**
   * Field problems keyed by field name ("body.password" becomes "password"; nested paths keep their
   * dots after the first part). The first problem of each field wins.
   */
  fieldErrors(): Readonly<Record<string, string>> {
    const errors: Record<string, string> = {};
    for (const problem of this.fieldProblems) {
      const field = problem.path.split('.').slice(1).join('.');
      if (field && !(field in errors)) errors[field] = problem.message;
    }
    return errors;
  }
}

/** The error for a call that got no answer (network down, server stopped). */
export function unreachableError(cause: unknown): ApiError {
  return new ApiError(0, {
    code: 'UNAVAILABLE',
    message: `Cannot reach the Slipway server: ${cause instanceof Error ? cause.message : String(cause)}`,
    hint: 'Check that the server is running and your network connection works, then try again',
  });
}

/** Turns anything a call threw into an ApiError, so pages show one kind of failure. */
export function toApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : unreachableError(error);
}
