import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Kysely } from 'kysely';
import * as openpgp from 'openpgp';
import type { Logger } from '../core/index.ts';
import type { ArtifactTables } from './schema.ts';

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
 * version 6 keys), one per Slipway database, made on first use.
 *
 * At rest: while the secret store is unsealed, the key is sealed with its envelope encryption and
 * kept in the database (`artifact_signing_keys`), next to the data keys that open it, so every
 * control plane on that database signs with the same key. Without a root key it is kept in
 * `signing-key.asc` in the data directory, mode 0600 (readable by Slipway's OS user only), and moved
 * into the database, sealed, the first time it is loaded with the store unsealed.
 */
export class SigningKey {
  readonly #path: string;
  readonly #envelope: SigningKeyEnvelope | undefined;
  readonly #db: Kysely<any> | undefined;
  readonly #logger: Logger | undefined;
  #sealedInDatabase = false;
  #loaded: Promise<{ privateKey: openpgp.PrivateKey; publicKey: openpgp.PublicKey }> | undefined;

  constructor(
    path: string,
    options: { envelope?: SigningKeyEnvelope; db?: Kysely<any>; logger?: Logger } = {},
  ) {
    this.#path = path;
    this.#envelope = options.envelope;
    this.#db = options.db;
    this.#logger = options.logger;
  }

  /** Where an unsealed key is kept (mode 0600). */
  get path(): string {
    return this.#path;
  }

  /** Whether the key in use is the one sealed in the database (false: the 0600 file). */
  get isSealed(): boolean {
    return this.#sealedInDatabase;
  }

  async #sealedToken(): Promise<string | undefined> {
    if (!this.#db) return undefined;
    const row = await (this.#db as Kysely<ArtifactTables>)
      .selectFrom('artifact_signing_keys')
      .select('sealed')
      .where('id', '=', 1)
      .executeTakeFirst();
    return row?.sealed;
  }

  async #load() {
    let armored: string;
    const token = this.#envelope ? await this.#sealedToken() : undefined;
    if (token !== undefined) {
      // While the store is sealed this throws its 503, saying how to unseal it.
      armored = await this.#envelope!.open(token, ENVELOPE_CONTEXT);
      this.#sealedInDatabase = true;
    } else {
      armored = (await readFile(this.#path, 'utf8').catch(() => undefined)) ?? (await this.#create());
      armored = await this.#sealIfPossible(armored);
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

  /**
   * Moves a plain key into the database, sealed, when the store is unsealed; returns the key to use
   * (another control plane's, when it sealed one first).
   */
  async #sealIfPossible(armored: string): Promise<string> {
    if (!this.#envelope || !this.#db || this.#envelope.sealed()) {
      this.#logger?.warn(
        { path: this.#path },
        'the APT signing key is kept unencrypted (mode 0600): give the secret store a root key to seal it',
      );
      return armored;
    }
    const sealed = await this.#envelope.seal(armored, ENVELOPE_CONTEXT);
    const inserted = await (this.#db as Kysely<ArtifactTables>)
      .insertInto('artifact_signing_keys')
      .values({ id: 1, sealed })
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id')
      .executeTakeFirst();
    this.#sealedInDatabase = true;
    if (!inserted) {
      // Another control plane sealed its key first: every one signs with that key.
      return this.#envelope.open((await this.#sealedToken())!, ENVELOPE_CONTEXT);
    }
    await rm(this.#path, { force: true });
    this.#logger?.info('sealed the APT signing key with the secret store');
    return armored;
  }

  #keys() {
    // A key sealed by the secret store is usable only while the store is unsealed, like any secret:
    // once sealed, the copy in memory is dropped and opening it again answers the store's 503.
    if (this.#envelope?.sealed() && this.#sealedInDatabase) this.#loaded = undefined;
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
