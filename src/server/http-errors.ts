import type { FastifyError } from 'fastify';
import { ErrorCode, SlipwayError, toSlipwayError } from '../core/index.ts';

/** The body of every error answer (STYLE.md §4). */
export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    readonly hint?: string;
    readonly details?: unknown;
    readonly requestId: string;
  };
}

/** Builds the answer for an error; internal errors get a generic message. */
export function errorBody(error: SlipwayError, requestId: string): ErrorBody {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.hint ? { hint: error.hint } : {}),
      ...(error.details !== undefined ? { details: error.details } : {}),
      requestId,
    },
  };
}

/** Converts Fastify's own errors (body parsing, limits, rate limits) to Slipway errors. */
export function fromFastifyError(error: unknown): SlipwayError {
  if (error instanceof SlipwayError) return error;
  const fastifyError = error as Partial<FastifyError> & { statusCode?: number };
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new SlipwayError(
        ErrorCode.InvalidInput,
        'Cannot read the request body: it is larger than the limit',
        {
          hint: 'Send a smaller body; API bodies are limited to 1 MiB',
          details: [{ path: 'body', message: 'too large' }],
          retryable: false,
        },
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SlipwayError(
        ErrorCode.InvalidInput,
        'Cannot read the request body: its content type is not supported',
        {
          hint: 'Send JSON with "Content-Type: application/json"',
          details: [{ path: 'body', message: 'unsupported content type' }],
          retryable: false,
        },
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new SlipwayError(
        ErrorCode.InvalidInput,
        'Cannot read the request body: it is empty but says it is JSON',
        {
          hint: 'Send a JSON body, or no Content-Type header',
          details: [{ path: 'body', message: 'empty' }],
          retryable: false,
        },
      );
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new SlipwayError(ErrorCode.InvalidInput, 'Cannot read the request body: it is not valid JSON', {
        hint: 'Check the JSON syntax (quotes, commas, brackets)',
        details: [{ path: 'body', message: fastifyError.message ?? 'malformed JSON' }],
        retryable: false,
      });
    default:
      break;
  }
  if (fastifyError.statusCode === 429) {
    return new SlipwayError(ErrorCode.TooManyRequests, 'Too many requests from this address', {
      hint: 'Wait a minute, then try again',
    });
  }
  if (fastifyError.statusCode === 400 || error instanceof SyntaxError) {
    return new SlipwayError(ErrorCode.InvalidInput, 'Cannot read the request body: it is not valid JSON', {
      hint: 'Check the JSON syntax (quotes, commas, brackets)',
      details: [{ path: 'body', message: 'malformed JSON' }],
      retryable: false,
    });
  }
  return toSlipwayError(error);
}
