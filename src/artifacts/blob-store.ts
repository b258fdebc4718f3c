import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { closed, newId } from '../core/index.ts';
import { UploadRejectedError } from './errors.ts';
import { StagingFile } from './internal/staging-file.ts';

/** A file received in full and hashed, not yet visible in the store. */
export interface StagedBlob {
  /** The temporary file; `commit` moves it into place, `discard` removes it. */
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

/** Limits and expectations for a file being received. */
export interface StageOptions {
  /** The most bytes accepted; more is refused while reading. */
  readonly maxBytes: number;
  /** What the sender said it would send (Content-Length); fewer or more bytes are refused. */
  readonly expectedSize?: number;
  /** The digest the sender computed; a different one is refused. */
  readonly expectedSha256?: string;
}

/**
 * Content-addressed file storage: each file lives under its SHA-256 digest, written first to a
 * temporary file on the same filesystem, synced, and renamed into place only once complete and
 * checked. A crash or an interrupted transfer leaves at most a temporary file, never a visible blob.
 * Files stream through (constant memory whatever their size).
 */
export class BlobStore {
  readonly root: string;
  readonly #blobs: string;
  readonly #tmp: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.#blobs = join(this.root, 'blobs', 'sha256');
    this.#tmp = join(this.root, 'tmp');
  }

  /** Where the blob with this digest lives (whether or not it exists). */
  pathOf(sha256: string): string {
    return join(this.#blobs, sha256.slice(0, 2), sha256);
  }

  /** Whether a blob with this digest is stored. */
  async has(sha256: string): Promise<boolean> {
    return stat(this.pathOf(sha256)).then(
      () => true,
      () => false,
    );
  }

  /**
   * Receives a stream into a temporary file while hashing it.
   * @throws UploadRejectedError when it is cut short, too large, or not what the sender announced
   */
  async stage(source: Readable, options: StageOptions): Promise<StagedBlob> {
    await mkdir(this.#tmp, { recursive: true, mode: 0o700 });
    const path = join(this.#tmp, `${newId()}.part`);
    const sink = new StagingFile(path, options.maxBytes);
    try {
      await pipeline(source, sink);
    } catch (error) {
      // Only once the sink has closed: a late open would create the file again.
      await closed(sink);
      await rm(path, { force: true });
      if (error instanceof UploadRejectedError) throw error;
      throw new UploadRejectedError(
        `Cannot store the upload: the transfer ended early after ${sink.size} bytes`,
        'Send the file again; nothing was stored',
        { receivedBytes: sink.size },
      );
    }
    const { size } = sink;
    const sha256 = sink.sha256();
    const problem =
      options.expectedSize !== undefined && size !== options.expectedSize
        ? new UploadRejectedError(
            `Cannot store the upload: ${size} bytes arrived but ${options.expectedSize} were announced`,
            'Send the whole file again; nothing was stored',
            { receivedBytes: size, expectedBytes: options.expectedSize },
          )
        : options.expectedSha256 !== undefined && sha256 !== options.expectedSha256
          ? new UploadRejectedError(
              `Cannot store the upload: its SHA-256 is ${sha256} but ${options.expectedSha256} was announced`,
              'The file changed or was damaged on the way: check it and send it again; nothing was stored',
              { sha256, expectedSha256: options.expectedSha256 },
            )
          : undefined;
    if (problem) {
      await rm(path, { force: true });
      throw problem;
    }
    return { path, sha256, size };
  }

  /** Stages a local file (a build's output) the same way as an upload. */
  async stageFile(path: string, options: Omit<StageOptions, 'expectedSize'> = { maxBytes: Infinity }) {
    const { size } = await stat(path);
    return this.stage(createReadStream(path, { highWaterMark: 1 << 20 }), { ...options, expectedSize: size });
  }

  /** Moves a staged file into place under its digest; a blob already there is kept as it is. */
  async commit(staged: StagedBlob): Promise<string> {
    const target = this.pathOf(staged.sha256);
    if (await this.has(staged.sha256)) {
      await rm(staged.path, { force: true });
      return target;
    }
    await mkdir(join(this.#blobs, staged.sha256.slice(0, 2)), { recursive: true, mode: 0o750 });
    await rename(staged.path, target);
    // The new name is durable before the version's row can commit and point at it.
    const directory = await open(join(this.#blobs, staged.sha256.slice(0, 2)), 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
    return target;
  }

  /** Removes a staged file that will not be stored. */
  async discard(staged: StagedBlob): Promise<void> {
    await rm(staged.path, { force: true });
  }

  /** Removes a stored blob. */
  async remove(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
  }

  /** Every stored digest (for garbage collection). */
  async *digests(): AsyncGenerator<string> {
    const prefixes = await readdir(this.#blobs).catch(() => [] as string[]);
    for (const prefix of prefixes) {
      for (const name of await readdir(join(this.#blobs, prefix)).catch(() => [] as string[])) {
        if (/^[0-9a-f]{64}$/.test(name)) yield name;
      }
    }
  }

  /** Removes temporary files older than `olderThanMs` (left by a crash). Returns how many. */
  async sweepTemporary(olderThanMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.#tmp).catch(() => [] as string[])) {
      const path = join(this.#tmp, name);
      const info = await stat(path).catch(() => undefined);
      if (info && now - info.mtimeMs > olderThanMs) {
        await rm(path, { force: true });
        removed += 1;
      }
    }
    return removed;
  }
}
