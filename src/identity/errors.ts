import { ConflictError, NotFoundError, SlipwayError } from '../core/index.ts';

/** No user has this name. */
export class UserNotFoundError extends NotFoundError {
  constructor(readonly username: string) {
    super(`Cannot find user "${username}"`, { hint: 'Run `slipway users list` to see existing users' });
  }
}

/** A user with this name exists already. */
export class UserExistsError extends ConflictError {
  constructor(readonly username: string) {
    super(`Cannot create user "${username}": the name is taken`, {
      hint: 'Choose another username, or run `slipway users list`',
      retryable: false,
    });
  }
}

/** No group has this name. */
export class GroupNotFoundError extends NotFoundError {
  constructor(readonly group: string) {
    super(`Cannot find group "${group}"`, { hint: 'Run `slipway groups list` to see existing groups' });
  }
}

/** A group with this name exists already. */
export class GroupExistsError extends ConflictError {
  constructor(readonly group: string) {
    super(`Cannot create group "${group}": the name is taken`, {
      hint: 'Choose another name, or run `slipway groups list`',
      retryable: false,
    });
  }
}

/** Login failed: wrong username or password (the two are not told apart). */
export class LoginFailedError extends SlipwayError {
  constructor() {
    super('UNAUTHENTICATED', 'Cannot log in: the username or password is wrong', {
      hint: 'Check both and try again; repeated failures lock the account for a while',
      retryable: false,
    });
  }
}

/** Too many failed logins: the account waits before it accepts another attempt. */
export class LoginLockedError extends SlipwayError {
  constructor(readonly retryAfterSeconds: number) {
    super(
      'TOO_MANY_REQUESTS',
      `Cannot log in yet: too many failed attempts; try again in ${retryAfterSeconds} s`,
      {
        hint: 'Wait, then log in with the right password; an administrator can reset the account',
        details: { retryAfterSeconds },
        retryable: true,
      },
    );
  }
}
