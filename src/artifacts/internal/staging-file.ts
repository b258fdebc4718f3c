import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { UploadRejectedError } from '../errors.ts';

/** Bytes buffered ahead of the disk before the sender is asked to wait (memory per upload). */
const BUFFERED_BYTES = 8 << 20;
/** Written bytes after which a background fdatasync starts, so the final one has little left to do. */
const SYNC_EVERY_BYTES = 32 << 20;

async function writeAll(handle: FileHandle, buffers: Buffer[]): Promise<void> {
  let pending = buffers;
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending);
    let skipped = bytesWritten;
    while (pending.length > 0 && skipped >= pending[0]!.length) {
      skipped -= pending[0]!.length;
      pending = pending.slice(1);
    }
    if (skipped > 0) pending = [pending[0]!.subarray(skipped), ...pending.slice(1)];
  }
}

/**
 * A new file (created exclusively) that hashes what is written to it and is durable once the stream
 * finishes: the whole file is fdatasync'ed before 'finish'. Chunks that arrive while a write is in
 * flight are gathered into one writev; each batch is hashed while the thread pool writes it; and data
 * already written is flushed to disk in the background as the transfer goes on, so the last sync has
 * little left to do. (Hashing on a worker thread was tried: the copy and the messages cost more than
 * they saved on two shared cores.)
 * It never deletes the file: the caller owns the path.
 */
export class StagingFile extends Writable {
  /** Bytes received so far. */
  size = 0;
  readonly #path: string;
  readonly #maxBytes: number;
  readonly #hash = createHash('sha256');
  #handle: FileHandle | undefined;
  #unsynced = 0;
  #syncing: Promise<void> | undefined;
  #syncError: unknown;

  constructor(path: string, maxBytes: number) {
    super({ highWaterMark: BUFFERED_BYTES });
    this.#path = path;
    this.#maxBytes = maxBytes;
  }

  /** The hex SHA-256 of everything written; call once, after the stream finished. */
  sha256(): string {
    return this.#hash.digest('hex');
  }

  override _construct(callback: (error?: Error | null) => void): void {
    open(this.#path, 'wx', 0o640).then((handle) => {
      this.#handle = handle;
      callback();
    }, callback);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this._writev([{ chunk }], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    if (this.#syncError) {
      callback(this.#syncError as Error);
      return;
    }
    const buffers = chunks.map(({ chunk }) => chunk);
    let length = 0;
    for (const buffer of buffers) length += buffer.length;
    this.size += length;
    if (this.size > this.#maxBytes) {
      callback(
        new UploadRejectedError(
          `Cannot store the upload: it is larger than the limit of ${this.#maxBytes} bytes`,
          'Upload a smaller file, or raise the limit on the server',
        ),
      );
      return;
    }
    const handle = this.#handle!;
    const written = writeAll(handle, buffers);
    // Hashed on the event loop while the thread pool writes the same bytes.
    for (const buffer of buffers) this.#hash.update(buffer);
    written.then(() => {
      this.#unsynced += length;
      if (this.#unsynced >= SYNC_EVERY_BYTES && !this.#syncing) {
        this.#unsynced = 0;
        this.#syncing = handle.datasync().then(
          () => {
            this.#syncing = undefined;
          },
          (error: unknown) => {
            this.#syncError = error;
            this.#syncing = undefined;
          },
        );
      }
      callback();
    }, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    const handle = this.#handle!;
    (async () => {
      await this.#syncing;
      if (this.#syncError) throw this.#syncError;
      // Durable before it can become visible: a power cut must not leave a named but empty blob.
      await handle.datasync();
      this.#handle = undefined;
      await handle.close();
    })().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const handle = this.#handle;
    this.#handle = undefined;
    (async () => {
      await this.#syncing;
      await handle?.close().catch(() => undefined);
    })().then(() => callback(error));
  }
}
