import { closeSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * An append-only log file rotated by size: at `maxBytes` the file becomes `NAME.1` (older ones
 * shift to `.2`, … up to `keep`, the oldest is deleted) and a new file starts.
 */
export class RotatingLog {
  readonly #path: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  #fd: number | undefined;
  #size = 0;

  constructor(path: string, options: { maxBytes: number; keep: number }) {
    this.#path = path;
    this.#maxBytes = options.maxBytes;
    this.#keep = options.keep;
  }

  /** Appends `chunk`, rotating first when it would pass the limit. */
  write(chunk: Buffer | string): void {
    let data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.#fd === undefined) this.#open();
    while (data.length > 0) {
      if (this.#size >= this.#maxBytes) this.#rotate();
      const space = this.#maxBytes - this.#size;
      let take = Math.min(space, data.length);
      if (take < data.length) {
        // End a file at a line break when there is one in reach, so lines stay whole.
        const newline = data.lastIndexOf(10, take - 1);
        if (newline >= 0) take = newline + 1;
        else if (this.#size > 0) {
          this.#rotate();
          continue;
        }
      }
      writeSync(this.#fd!, data.subarray(0, take));
      this.#size += take;
      data = data.subarray(take);
    }
  }

  /** Closes the file. */
  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #open(): void {
    mkdirSync(dirname(this.#path), { recursive: true, mode: 0o750 });
    this.#fd = openSync(this.#path, 'a', 0o640);
    try {
      this.#size = statSync(this.#path).size;
    } catch {
      this.#size = 0;
    }
  }

  #rotate(): void {
    this.close();
    if (this.#keep === 0) {
      rmSync(this.#path, { force: true });
    } else {
      rmSync(`${this.#path}.${this.#keep}`, { force: true });
      for (let n = this.#keep - 1; n >= 1; n--) {
        try {
          renameSync(`${this.#path}.${n}`, `${this.#path}.${n + 1}`);
        } catch {
          // that generation does not exist yet
        }
      }
      renameSync(this.#path, `${this.#path}.1`);
    }
    this.#open();
  }
}
