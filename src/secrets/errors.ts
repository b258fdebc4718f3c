import {
  ConflictError,
  InvalidInputError,
  NotFoundError,
  SlipwayError,
  UnavailableError,
} from '../core/index.ts';

const UNSEAL_HINT =
  'Give the server its root key: set SLIPWAY_ROOT_KEY_FILE (or SLIPWAY_ROOT_KEY) and restart, or run ' +
  '`slipway secrets unseal` as a platform administrator and paste the key';

/** The secret store has no usable root key: secret operations wait until it is unsealed. */
export class SecretStoreSealedError extends UnavailableError {
  constructor(reason: string, hint: string = UNSEAL_HINT) {
    super(`The secret store is sealed: ${reason}`, { hint, retryable: false });
  }
}

/** The hint every sealed answer carries. */
export const SEALED_HINT = UNSEAL_HINT;

/** A root key was given that does not open this store. */
export class RootKeyMismatchError extends InvalidInputError {
  constructor(
    readonly givenId: string,
    readonly storedId: string,
  ) {
    super(`This root key does not open the secret store (it is ${givenId}; the store uses ${storedId})`, {
      hint: 'Use the root key the store was last sealed or rotated with',
      details: { givenRootKeyId: givenId, storeRootKeyId: storedId },
      retryable: false,
    });
  }
}

/** Root key text that is not 32 bytes in base64 or hex. */
export class InvalidRootKeyError extends InvalidInputError {
  constructor(where: string) {
    super(`Cannot read the root key ${where}: it must be 32 random bytes, written as base64 or hex`, {
      hint: 'Make one with `slipway secrets generate-root-key`',
      retryable: false,
    });
  }
}

/** No secret of this name in the environment. */
export class SecretNotFoundError extends NotFoundError {
  constructor(environment: string, name: string) {
    super(`Cannot find secret ${name} in environment "${environment}"`, {
      hint: `Run \`slipway secrets list ${environment}\` to see its secrets`,
    });
  }
}

/** The secret is soft-deleted. */
export class SecretDeletedError extends NotFoundError {
  constructor(environment: string, name: string) {
    super(`Secret ${name} in environment "${environment}" is deleted`, {
      hint: `Restore it with \`slipway secrets restore ${environment} ${name}\`, or set a new value`,
    });
  }
}

/** Restore of a secret that is not deleted. */
export class SecretNotDeletedError extends ConflictError {
  constructor(environment: string, name: string) {
    super(`Cannot restore secret ${name} in environment "${environment}": it is not deleted`, {
      hint: 'Nothing to do',
      retryable: false,
    });
  }
}

/** A version that never existed, or whose value was destroyed by the keep-last-N rule. */
export class SecretVersionNotFoundError extends NotFoundError {
  constructor(environment: string, name: string, version: number, destroyed: boolean) {
    super(
      destroyed
        ? `Version ${version} of secret ${name} in environment "${environment}" was destroyed (only the newest versions are kept)`
        : `Secret ${name} in environment "${environment}" has no version ${version}`,
      { hint: `Run \`slipway secrets history ${environment} ${name}\` to see its versions` },
    );
  }
}

/** A secret set version that does not exist. */
export class SecretSetNotFoundError extends NotFoundError {
  constructor(environment: string, version: number) {
    super(`Environment "${environment}" has no secret set version ${version}`, {
      hint: `Run \`slipway secrets set-history ${environment}\` to see its secret set versions`,
    });
  }
}

/** A `.env` text that cannot be read; says where and what, never the text itself. */
export class DotenvParseError extends InvalidInputError {
  constructor(
    readonly line: number,
    problem: string,
    hint = 'Fix the line and try again',
  ) {
    super(`Cannot read the .env text: line ${line}: ${problem}`, {
      hint,
      details: [{ path: `line ${line}`, message: problem }],
      retryable: false,
    });
  }
}

/** Writing a host's env file failed; nothing was replaced. */
export class EnvFileWriteError extends SlipwayError {
  constructor(path: string, cause: unknown) {
    const code = (cause as { code?: string } | undefined)?.code;
    super(
      'INTERNAL',
      `Cannot write the env file ${path}${code ? ` (${code})` : ''}; the old file is unchanged`,
      {
        hint:
          code === 'EPERM'
            ? 'Changing the owner needs root; run the agent as root or leave uid/gid out'
            : 'Check that the directory exists and is writable',
        cause,
        retryable: code !== 'EPERM' && code !== 'ENOENT',
      },
    );
  }
}

/** A wrapped key did not open: the root key does not match, or the stored bytes were altered. */
export class KeyUnwrapError extends SlipwayError {
  constructor(what: string) {
    super(
      'UNAVAILABLE',
      `Cannot unwrap ${what}: the root key does not match, or the stored key was altered`,
      {
        hint: SEALED_HINT,
        retryable: false,
      },
    );
  }
}
