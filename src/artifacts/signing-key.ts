import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as openpgp from 'openpgp';

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
 * The OpenPGP key that signs the APT repository: a version 4 Ed25519 key (Debian's gpgv does not read
 * version 6 keys), made on first use and kept in one file, mode 0600, readable by Slipway's OS user
 * only. The secrets module does not offer envelope encryption yet; when it does, this file is what it
 * should wrap.
 */
export class SigningKey {
  readonly #path: string;
  #loaded: Promise<{ privateKey: openpgp.PrivateKey; publicKey: openpgp.PublicKey }> | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  /** Where the private key lives. */
  get path(): string {
    return this.#path;
  }

  async #load() {
    const existing = await readFile(this.#path, 'utf8').catch(() => undefined);
    const armored = existing ?? (await this.#create());
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

  #keys() {
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
