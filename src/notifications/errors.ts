import { ConflictError, NotFoundError, UnavailableError } from '../core/index.ts';

/** No channel has this name. */
export class ChannelNotFoundError extends NotFoundError {
  constructor(readonly channel: string) {
    super(`Cannot find notification channel "${channel}"`, {
      hint: 'Run `slipway notifications channels list` to see the channels',
    });
  }
}

/** A channel with this name exists. */
export class ChannelExistsError extends ConflictError {
  constructor(readonly channel: string) {
    super(`Cannot create notification channel "${channel}": the name is taken`, {
      hint: 'Choose another name, or remove the old channel first',
      retryable: false,
    });
  }
}

/** Channel credentials cannot be stored or read without the secrets store. */
export class ChannelSecretsUnavailableError extends UnavailableError {
  constructor(readonly channel: string) {
    super(`Cannot use the credentials of notification channel "${channel}": the secrets store is sealed`, {
      hint: 'Unseal the secrets store (`slipway secrets unseal`), then try again',
    });
  }
}
