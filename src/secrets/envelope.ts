import { InvalidInputError, SlipwayError } from '../core/index.ts';
import { open, seal } from './internal/aes-gcm.ts';
import type { SecretVault } from './secret-vault.ts';

const TOKEN = /^slw1:([0-9a-f-]{36}):([A-Za-z0-9_-]{16}):([A-Za-z0-9_-]{22,})$/;
const PURPOSE = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * Encryption at rest for another module's own credentials (the replication module's connection
 * strings, a notification webhook's signing key): AES-256-GCM under a data key of the module's own
 * scope ("module:PURPOSE"), wrapped by the root key like every secret, so root-key rotation covers it.
 *
 * `seal` returns one printable token to store in a text column: `slw1:<data key id>:<nonce>:<ciphertext>`.
 * `context` is bound as associated data: use the row's identity ("link:7f3e…") so a token copied to
 * another row does not open. Both calls answer 503 (SecretStoreSealedError) while the store is sealed.
 */
export interface EnvelopeCipher {
  readonly purpose: string;
  seal(plaintext: string, context: string): Promise<string>;
  /** @throws InvalidInputError for a malformed token; SlipwayError INTERNAL when it does not authenticate */
  open(token: string, context: string): Promise<string>;
  /** Re-encrypts a token under the scope's current data key (after `vault.rotateDataKey(db, scope)`). */
  reseal(token: string, context: string): Promise<string>;
}

function aad(purpose: string, context: string): string {
  return JSON.stringify(['slipway-envelope/v1', purpose, context]);
}

/** An envelope cipher for one module; `purpose` names its data-key scope ("replication"). */
export function createEnvelopeCipher(vault: SecretVault, purpose: string): EnvelopeCipher {
  if (!PURPOSE.test(purpose)) {
    throw new InvalidInputError(`Cannot make an envelope cipher for "${purpose}"`, {
      hint: 'Use a lowercase module name, like "replication"',
    });
  }
  const scope = `module:${purpose}`;
  const cipher: EnvelopeCipher = {
    purpose,
    async seal(plaintext, context) {
      const { id, key } = await vault.activeDataKey(vault.db, scope);
      const sealed = seal(key, Buffer.from(plaintext, 'utf8'), aad(purpose, context));
      return `slw1:${id}:${sealed.nonce.toString('base64url')}:${sealed.ciphertext.toString('base64url')}`;
    },
    async open(token, context) {
      const match = TOKEN.exec(token);
      if (!match) {
        throw new InvalidInputError('Cannot open the sealed value: it is not a Slipway envelope token', {
          hint: 'Pass a value made by EnvelopeCipher.seal',
        });
      }
      const key = await vault.dataKey(vault.db, match[1]!);
      const plaintext = open(
        key,
        { nonce: Buffer.from(match[2]!, 'base64url'), ciphertext: Buffer.from(match[3]!, 'base64url') },
        aad(purpose, context),
      );
      if (!plaintext) {
        throw new SlipwayError(
          'INTERNAL',
          'Cannot open the sealed value: it was altered, or belongs to another row or module',
          {
            hint: 'Store the value again',
            retryable: false,
          },
        );
      }
      const text = plaintext.toString('utf8');
      plaintext.fill(0);
      return text;
    },
    async reseal(token, context) {
      return cipher.seal(await cipher.open(token, context), context);
    },
  };
  return cipher;
}
