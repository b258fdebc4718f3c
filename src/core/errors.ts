/**
 * The closed set of error codes every Slipway error carries, and how each maps to an HTTP status
 * and a CLI exit code.
 */
export const ErrorCode = {
  InvalidInput: 'INVALID_INPUT',
  Unauthenticated: 'UNAUTHENTICATED',
  Forbidden: 'FORBIDDEN',
  NotFound: 'NOT_FOUND',
  Conflict: 'CONFLICT',
  TooManyRequests: 'TOO_MANY_REQUESTS',
  Unavailable: 'UNAVAILABLE',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** HTTP status and CLI exit code for each error code. */
export const ERROR_CODE_TABLE: Readonly<
  Record<ErrorCode, { readonly httpStatus: number; readonly exitCode: number }>
> = {
  INVALID_INPUT: { httpStatus: 400, exitCode: 2 },
  UNAUTHENTICATED: { httpStatus: 401, exitCode: 3 },
  FORBIDDEN: { httpStatus: 403, exitCode: 4 },
  NOT_FOUND: { httpStatus: 404, exitCode: 5 },
  CONFLICT: { httpStatus: 409, exitCode: 6 },
  TOO_MANY_REQUESTS: { httpStatus: 429, exitCode: 7 },
  UNAVAILABLE: { httpStatus: 503, exitCode: 8 },
  INTERNAL: { httpStatus: 500, exitCode: 1 },
};

/** Options every Slipway error accepts. */
export interface SlipwayErrorOptions {
  /** What the user can do next. */
  readonly hint?: string;
  /** Structured, safe-to-show facts (never secrets). */
  readonly details?: unknown;
  /** Whether trying again may help. @default true only for UNAVAILABLE */
  readonly retryable?: boolean;
  readonly cause?: unknown;
}

/** The base class of every error Slipway raises on purpose. */
export class SlipwayError extends Error {
  readonly hint?: string;
  readonly details?: unknown;
  readonly retryable: boolean;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: SlipwayErrorOptions = {},
  ) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
    this.details = options.details;
    this.retryable = options.retryable ?? code === ErrorCode.Unavailable;
  }

  /** The HTTP status this error answers with. */
  get httpStatus(): number {
    return ERROR_CODE_TABLE[this.code].httpStatus;
  }

  /** The exit code the CLI ends with for this error. */
  get exitCode(): number {
    return ERROR_CODE_TABLE[this.code].exitCode;
  }
}

/** Input failed validation; `details` lists every problem with its path. */
export class InvalidInputError extends SlipwayError {
  constructor(message: string, options: SlipwayErrorOptions = {}) {
    super(ErrorCode.InvalidInput, message, options);
  }
}

/** A configuration value (environment variable, flag or file) is invalid. */
export class ConfigError extends SlipwayError {
  constructor(message: string, options: SlipwayErrorOptions = {}) {
    super(ErrorCode.InvalidInput, message, { retryable: false, ...options });
  }
}

/** The caller is not authenticated. */
export class UnauthenticatedError extends SlipwayError {
  constructor(message = 'Authentication is required', options: SlipwayErrorOptions = {}) {
    super(ErrorCode.Unauthenticated, message, {
      hint: 'Log in with `slipway login`, or send an API token as "Authorization: Bearer <token>"',
      ...options,
    });
  }
}

/** The caller is authenticated but no role binding allows the action. */
export class ForbiddenError extends SlipwayError {
  constructor(message: string, options: SlipwayErrorOptions = {}) {
    super(ErrorCode.Forbidden, message, { retryable: false, ...options });
  }
}

/** A named thing does not exist. */
export class NotFoundError extends SlipwayError {
  constructor(message: string, options: SlipwayErrorOptions = {}) {
    super(ErrorCode.NotFound, message, { retryable: false, ...options });
  }
}

/** The request conflicts with what is stored. */
export class ConflictError extends SlipwayError {
  constructor(message: string, options: SlipwayErrorOptions = {}) {
    super(ErrorCode.Conflict, message, options);
  }
}

/** A dependency (database, sealed store, …) is not available right now. */
export class UnavailableError extends SlipwayError {
  constructor(message: string, options: SlipwayErrorOptions = {}) {
    super(ErrorCode.Unavailable, message, options);
  }
}

/**
 * Converts anything thrown into a SlipwayError, once, at the edge. Unknown errors become INTERNAL
 * with a generic message; the original is kept as `cause` for logs and `--verbose`.
 */
export function toSlipwayError(error: unknown): SlipwayError {
  if (error instanceof SlipwayError) return error;
  return new SlipwayError(ErrorCode.Internal, 'An internal error occurred', {
    cause: error,
    retryable: false,
    hint: 'Try again; if it keeps failing, report it with the request id',
  });
}
