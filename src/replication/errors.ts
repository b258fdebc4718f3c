/** The replication module's errors: what went wrong, and what to do next. Never a connection string. */
import {
  ConflictError,
  InvalidInputError,
  NotFoundError,
  SlipwayError,
  UnavailableError,
} from '../core/index.ts';

/** No link has this name. */
export class LinkNotFoundError extends NotFoundError {
  constructor(readonly link: string) {
    super(`Cannot find replication link "${link}"`, {
      hint: 'Run `slipway replication status` to see the links that exist',
    });
  }
}

/** A link with this name exists already (in Slipway or on one of the databases). */
export class LinkExistsError extends ConflictError {
  constructor(
    readonly link: string,
    where: string,
  ) {
    super(`Cannot create replication link "${link}": it already exists ${where}`, {
      hint: `Choose another name, or remove the old one with \`slipway replication drop ${link}\``,
      retryable: false,
    });
  }
}

/** One of the link's databases cannot be reached or refused us. */
export class LinkDatabaseUnavailableError extends UnavailableError {
  constructor(
    readonly link: string,
    readonly side: 'source' | 'target',
    reason: string,
  ) {
    super(`Cannot reach the ${side} database of replication link "${link}": ${reason}`, {
      hint: `Check that the ${side} is running and that the connection string you gave for it is right; \`slipway replication status ${link}\` shows the link's last error`,
    });
  }
}

/** The tables asked for cannot be replicated as they are. */
export class TablesNotReplicableError extends InvalidInputError {
  constructor(message: string, hint: string, details?: unknown) {
    super(message, { hint, details, retryable: false });
  }
}

/** The link is in a state that does not allow the action. */
export class LinkStateError extends ConflictError {
  constructor(message: string, hint: string) {
    super(message, { hint, retryable: false });
  }
}

/** A request to the applier did not finish in time or failed. */
export class ApplierRequestError extends SlipwayError {
  constructor(message: string, hint: string, retryable = true) {
    super(retryable ? 'UNAVAILABLE' : 'CONFLICT', message, { hint, retryable });
  }
}
