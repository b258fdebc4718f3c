import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as openpgp from 'openpgp';
import { type Logger, UnavailableError } from '../core/index.ts';

/** The public half of the repository key, in the forms apt takes for `signed-by`. */
export interface PublicSigningKey {
  /** ASCII-armoured (for a `.asc` keyring file). */
  readonly armored: string;
  /** Binary OpenPGP (for a `.gpg` keyring file). */
  readonly binary: Uint8Array;
  /** The key's fingerprint in upper-case hexadecimal. */
  readonly fingerprint: string;
}

/** Detached and inline signatures of one Release file. */
export interface ReleaseSignatures {
  /** The Release text, clear-signed. */
  readonly inRelease: string;
  /** An armoured detached signature of the Release bytes. */
  readonly releaseGpg: string;
}

/**
 * Encryption at rest for the private key: the secrets module's envelope cipher (AES-256-GCM under a
 * data key wrapped by the root key), usable while the secret store is unsealed.
 */
export interface SigningKeyEnvelope {
  seal(plaintext: string, context: string): Promise<string>;
  open(token: string, context: string): Promise<string>;
  /** Whether the secret store is sealed now (no root key): the key cannot be sealed or opened. */
  sealed(): boolean;
}

/** The associated data the sealed key is bound to. */
const ENVELOPE_CONTEXT = 'apt-signing-key';

/**
 * The OpenPGP key that signs the APT repository: a version 4 Ed25519 key (Debian's gpgv does not read
 * version 6 keys), made on first use. At rest it is sealed with the secrets module's envelope
 * encryption when the secret store is unsealed (`signing-key.sealed`); without a root key it is kept
 * in `signing-key.asc`, mode 0600, readable by Slipway's OS user only, and sealed (the plain file
 * removed) the first time it is loaded with the store unsealed.
 */
export class SigningKey {
  readonly #path: string;
  readonly #sealedPath: string;
  readonly #envelope: SigningKeyEnvelope | undefined;
  readonly #logger: Logger | undefined;
  #loaded: Promise<{ privateKey: openpgp.PrivateKey; publicKey: openpgp.PublicKey }> | undefined;

  constructor(path: string, options: { envelope?: SigningKeyEnvelope; logger?: Logger } = {}) {
    this.#path = path;
    this.#sealedPath = path.replace(/\.asc$/, '') + '.sealed';
    this.#envelope = options.envelope;
    this.#logger = options.logger;
  }

  /** Where the private key lives: the sealed file when there is one, else the plain one. */
  get path(): string {
    return existsSync(this.#sealedPath) ? this.#sealedPath : this.#path;
  }

  /** Whether the key at rest is sealed by the secret store (false: a 0600 file). */
  get isSealed(): boolean {
    return existsSync(this.#sealedPath);
  }

  async #load() {
    const token = await readFile(this.#sealedPath, 'utf8').catch(() => undefined);
    let armored: string;
    if (token !== undefined) {
      if (!this.#envelope) {
        throw new UnavailableError(
          'Cannot sign the APT index: the signing key is sealed and no secret store is available',
          {
            hint: "Start the server with the secret store's root key (SLIPWAY_ROOT_KEY_FILE)",
          },
        );
      }
      // While the store is sealed this throws its 503, naming what to do.
      armored = await this.#envelope.open(token.trim(), ENVELOPE_CONTEXT);
    } else {
      armored = (await readFile(this.#path, 'utf8').catch(() => undefined)) ?? (await this.#create());
      await this.#sealIfPossible(armored);
    }
    const privateKey = await openpgp.readPrivateKey({ armoredKey: armored });
    return { privateKey, publicKey: privateKey.toPublic() };
  }

  async #create(): Promise<string> {
    const { privateKey } = await openpgp.generateKey({
      type: 'ecc',
      curve: 'ed25519Legacy',
      userIDs: [{ name: 'Slipway artifact repository', email: 'slipway@localhost' }],
      format: 'armored',
      config: { v6Keys: false },
    });
    await mkdir(dirname(this.#path), { recursive: true, mode: 0o700 });
    try {
      // "wx": when two control planes sharing this directory race, the first key written wins.
      await writeFile(this.#path, privateKey, { flag: 'wx', mode: 0o600 });
      return privateKey;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return readFile(this.#path, 'utf8');
    }
  }

  /** Moves the plain key under the secret store's envelope when the store is unsealed. */
  async #sealIfPossible(armored: string): Promise<void> {
    if (!this.#envelope || this.#envelope.sealed()) {
      this.#logger?.warn(
        { path: this.#path },
        'the APT signing key is kept unencrypted (mode 0600): give the secret store a root key to seal it',
      );
      return;
    }
    const token = await this.#envelope.seal(armored, ENVELOPE_CONTEXT);
    const staged = `${this.#sealedPath}.${process.pid}.tmp`;
    await writeFile(staged, `${token}\n`, { mode: 0o600 });
    await rename(staged, this.#sealedPath);
    await rm(this.#path, { force: true });
    this.#logger?.info({ path: this.#sealedPath }, 'sealed the APT signing key with the secret store');
  }

  #keys() {
    // A key sealed by the secret store is usable only while the store is unsealed, like any secret:
    // once sealed, the copy in memory is dropped and opening it again answers the store's 503.
    if (this.#envelope?.sealed() && existsSync(this.#sealedPath)) this.#loaded = undefined;
    this.#loaded ??= this.#load().catch((error) => {
      this.#loaded = undefined;
      throw error;
    });
    return this.#loaded;
  }

  /** The public key (made with the private key on first use). */
  async publicKey(): Promise<PublicSigningKey> {
    const { publicKey } = await this.#keys();
    return {
      armored: publicKey.armor(),
      binary: publicKey.write(),
      fingerprint: publicKey.getFingerprint().toUpperCase(),
    };
  }

  /** Signs a Release file both ways apt reads: InRelease (clear-signed) and Release.gpg (detached). */
  async signRelease(release: string): Promise<ReleaseSignatures> {
    const { privateKey } = await this.#keys();
    const [inRelease, releaseGpg] = await Promise.all([
      openpgp.sign({
        message: await openpgp.createCleartextMessage({ text: release }),
        signingKeys: privateKey,
      }),
      openpgp.sign({
        message: await openpgp.createMessage({ binary: Buffer.from(release, 'utf8') }),
        signingKeys: privateKey,
        detached: true,
      }),
    ]);
    return { inRelease, releaseGpg };
  }
}
