import {
  ConflictError,
  NotFoundError,
  SlipwayError,
  UnauthenticatedError,
  UnavailableError,
} from '../core/index.ts';

/** No app has this name. */
export class AppNotFoundError extends NotFoundError {
  constructor(readonly app: string) {
    super(`Cannot find app "${app}"`, { hint: 'Run `slipway apps list` to see registered apps' });
  }
}

/** An app with this name exists already. */
export class AppExistsError extends ConflictError {
  constructor(readonly app: string) {
    super(`Cannot create app "${app}": the name is taken`, {
      hint: 'Choose another name, or run `slipway apps show ' + app + '`',
      retryable: false,
    });
  }
}

/** An app still has runs in flight. */
export class AppBusyError extends ConflictError {
  constructor(
    readonly app: string,
    readonly active: number,
  ) {
    super(`Cannot delete app "${app}": ${active} run${active === 1 ? ' is' : 's are'} queued or running`, {
      hint: `Cancel them first (\`slipway runs list --app ${app}\`, then \`slipway runs cancel ${app}/NUMBER\`)`,
      retryable: false,
    });
  }
}

/** No run of this app has this number. */
export class RunNotFoundError extends NotFoundError {
  constructor(
    readonly app: string,
    readonly number: number,
  ) {
    super(`Cannot find run ${app}/${number}`, {
      hint: `Run \`slipway runs list --app ${app}\` to see its runs`,
    });
  }
}

/** A run is finished and cannot be cancelled. */
export class RunFinishedError extends ConflictError {
  constructor(
    readonly app: string,
    readonly number: number,
    readonly state: string,
  ) {
    super(`Cannot cancel run ${app}/${number}: it has ${state} already`, {
      hint: `Start it again with \`slipway runs rerun ${app}/${number}\``,
      retryable: false,
    });
  }
}

/** A webhook or hook call whose signature is missing or wrong. Says nothing about the app. */
export class WebhookSignatureError extends UnauthenticatedError {
  constructor(readonly reason: string) {
    super('The webhook signature is missing or does not match', {
      hint: "Configure the webhook with the app's secret (`slipway apps rotate-secret APP` makes a new one)",
    });
  }
}

/** A step failed; the run stops here. */
export class StepFailedError extends SlipwayError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('INVALID_INPUT', message, { ...options, retryable: false });
  }
}

/**
 * An app's webhook secrets are needed (to seal a new one or check a signature) while the secret
 * store that encrypts them is sealed: 503 until it is unsealed.
 */
export class AppSecretsSealedError extends UnavailableError {
  constructor(
    readonly action: string,
    cause: SlipwayError,
  ) {
    const reason = cause.message.replace(/^The secret store is sealed: /, '');
    super(`Cannot ${action}: the secret store that encrypts webhook secrets is sealed (${reason})`, {
      hint: cause.hint ?? 'Unseal the secret store (`slipway secrets unseal`), then try again',
      cause,
    });
  }
}
