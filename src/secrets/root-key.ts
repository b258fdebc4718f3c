import { createHmac, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { InvalidRootKeyError, KeyUnwrapError } from './errors.ts';
import { contextText, open, seal } from './internal/aes-gcm.ts';

/**
 * Facts bound to a wrapped key (AWS KMS calls it the encryption context, GCP additional
 * authenticated data): unwrapping with different facts fails. Never secret.
 */
export type KeyContext = Readonly<Record<string, string>>;

/**
 * What wraps Slipway's data keys: the local root key, or a cloud key service behind the same two
 * calls (AWS KMS Encrypt/Decrypt with an encryption context, GCP Cloud KMS with AAD, Vault transit).
 */
export interface KeyManagementService {
  /** Names the wrapping key: safe to store and show ("local:3f2a…", a key ARN and version). */
  readonly keyId: string;
  /** Encrypts a data key, binding `context`. */
  wrapKey(plaintextKey: Uint8Array, context: KeyContext): Promise<Buffer>;
  /**
   * Decrypts a data key wrapped with the same context.
   * @throws KeyUnwrapError when the key or the context does not match
   */
  unwrapKey(wrappedKey: Uint8Array, context: KeyContext): Promise<Buffer>;
}

const WRAP_FORMAT = 1;
const ROOT_KEY_BYTES = 32;

/** Reads root key text: 32 bytes as base64, base64url or hex; undefined for anything else. */
function decodeRootKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (bytes.length === ROOT_KEY_BYTES) return bytes;
  }
  return undefined;
}

/**
 * The root key held by this process (from a file, an environment variable or `secrets unseal`).
 * It wraps data keys with AES-256-GCM, binding the key context.
 */
export class LocalRootKey implements KeyManagementService {
  readonly keyId: string;
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
    // A fingerprint that names the key without revealing anything about it.
    this.keyId = `local:${createHmac('sha256', key).update('slipway root key id').digest('hex').slice(0, 16)}`;
  }

  /**
   * Reads a root key written as base64 or hex.
   * @throws InvalidRootKeyError saying where the text came from (never the text)
   */
  static fromText(text: string, where = 'given'): LocalRootKey {
    const key = decodeRootKey(text);
    if (!key) throw new InvalidRootKeyError(where);
    return new LocalRootKey(key);
  }

  /** Whether text is a well-formed root key. */
  static isWellFormed(text: string): boolean {
    return decodeRootKey(text) !== undefined;
  }

  async wrapKey(plaintextKey: Uint8Array, context: KeyContext): Promise<Buffer> {
    const sealed = seal(this.#key, plaintextKey, contextText(context));
    return Buffer.concat([Buffer.of(WRAP_FORMAT), sealed.nonce, sealed.ciphertext]);
  }

  async unwrapKey(wrappedKey: Uint8Array, context: KeyContext): Promise<Buffer> {
    const bytes = Buffer.from(wrappedKey);
    const opened =
      bytes[0] === WRAP_FORMAT
        ? open(
            this.#key,
            { nonce: bytes.subarray(1, 13), ciphertext: bytes.subarray(13) },
            contextText(context),
          )
        : undefined;
    if (!opened) throw new KeyUnwrapError(context.purpose ?? 'a key');
    return opened;
  }

  /** Overwrites the key in memory; the object is useless afterwards. */
  destroy(): void {
    this.#key.fill(0);
  }
}

/** A new root key as base64 text (32 random bytes). */
export function generateRootKey(): string {
  return randomBytes(ROOT_KEY_BYTES).toString('base64');
}

/** Where a root key came from. */
export type RootKeySource = 'file' | 'environment' | 'unseal' | 'kms' | 'none';

/** A root key as read at start, or why there is none. */
export interface LoadedRootKey {
  readonly key?: LocalRootKey;
  readonly source: RootKeySource;
  /** Why no key could be read (missing file, bad format); undefined when none was configured. */
  readonly problem?: string;
  /** Worth a log line, such as a key file others can read. */
  readonly warnings: readonly string[];
}

/** Reads the configured root key: a file (preferred) or the value of SLIPWAY_ROOT_KEY. */
export async function loadRootKey(source: { file?: string; value?: string }): Promise<LoadedRootKey> {
  if (source.file) {
    const warnings: string[] = [];
    let text: string;
    try {
      text = await readFile(source.file, 'utf8');
      const mode = (await stat(source.file)).mode & 0o777;
      if ((mode & 0o077) !== 0) {
        warnings.push(
          `The root key file ${source.file} can be read by others (mode ${mode.toString(8)}); chmod 600 it`,
        );
      }
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'error';
      return { source: 'file', problem: `cannot read the root key file ${source.file} (${code})`, warnings };
    }
    if (!LocalRootKey.isWellFormed(text)) {
      return {
        source: 'file',
        problem: `the root key file ${source.file} does not hold 32 bytes in base64 or hex`,
        warnings,
      };
    }
    return { key: LocalRootKey.fromText(text), source: 'file', warnings };
  }
  if (source.value) {
    if (!LocalRootKey.isWellFormed(source.value)) {
      return {
        source: 'environment',
        problem: 'SLIPWAY_ROOT_KEY does not hold 32 bytes in base64 or hex',
        warnings: [],
      };
    }
    return { key: LocalRootKey.fromText(source.value), source: 'environment', warnings: [] };
  }
  return { source: 'none', warnings: [] };
}
