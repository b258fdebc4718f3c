/**
 * COPY over the `pg` client without a streaming dependency: a COPY … TO STDOUT on one connection is
 * piped, chunk by chunk and with back-pressure, into a COPY … FROM STDIN on another. Rows pass through
 * as PostgreSQL's own text format, so Node never parses them and memory stays bounded by the socket
 * buffers, whatever the size of the copy.
 */
import type pg from 'pg';

/** The parts of pg's connection a COPY needs (pg does not export these types). */
interface WireConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  readonly stream: NodeJS.ReadWriteStream & {
    pause(): void;
    resume(): void;
    cork(): void;
    uncork(): void;
    readonly writableNeedDrain?: boolean;
    once(event: 'drain', listener: () => void): unknown;
  };
}

type Callback = (error: Error | null, rows: number) => void;

function commandRows(message: { text?: string }): number {
  const match = /^COPY (\d+)/.exec(message.text ?? '');
  return match ? Number(match[1]) : 0;
}

/** A pg "submittable" for COPY … TO STDOUT that hands each CopyData message to `onData`. */
class CopyOut {
  readonly text: string;
  callback: Callback | undefined;
  #rows = 0;
  #error: Error | null = null;
  readonly #onData: (chunk: Buffer) => void;

  constructor(text: string, onData: (chunk: Buffer) => void) {
    this.text = text;
    this.#onData = onData;
  }

  submit(connection: WireConnection): null {
    connection.query(this.text);
    return null;
  }
  handleCopyData(message: { chunk: Buffer }): void {
    this.#onData(message.chunk);
  }
  handleCommandComplete(message: { text?: string }): void {
    this.#rows = commandRows(message);
  }
  handleReadyForQuery(): void {
    this.callback?.(this.#error, this.#rows);
  }
  handleError(error: Error): void {
    this.#error = error;
    // pg drops the active query on an error message: readyForQuery will not reach us.
    this.callback?.(error, 0);
    this.callback = undefined;
  }
  handleCopyInResponse(connection: WireConnection): void {
    connection.sendCopyFail('Slipway expected COPY TO STDOUT');
  }
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
}

/** A pg "submittable" for COPY … FROM STDIN; `ready` resolves with the wire once the server waits for data. */
class CopyIn {
  readonly text: string;
  callback: Callback | undefined;
  readonly ready: Promise<WireConnection>;
  #resolveReady!: (connection: WireConnection) => void;
  #rejectReady!: (error: Error) => void;
  #rows = 0;

  constructor(text: string) {
    this.text = text;
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => undefined);
  }

  submit(connection: WireConnection): null {
    connection.query(this.text);
    return null;
  }
  handleCopyInResponse(connection: WireConnection): void {
    this.#resolveReady(connection);
  }
  handleCommandComplete(message: { text?: string }): void {
    this.#rows = commandRows(message);
  }
  handleReadyForQuery(): void {
    this.callback?.(null, this.#rows);
  }
  handleError(error: Error): void {
    this.#rejectReady(error);
    this.callback?.(error, 0);
    this.callback = undefined;
  }
  handleCopyData(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
}

function run<T extends { callback: Callback | undefined }>(client: pg.Client, query: T): Promise<number> {
  return new Promise((resolve, reject) => {
    query.callback = (error, rows) => (error ? reject(error) : resolve(rows));
    (client as unknown as { query(q: unknown): void }).query(query);
  });
}

/** What a piped COPY moved. */
export interface CopyResult {
  readonly rows: number;
  readonly bytes: number;
}

/** Options for a piped COPY. */
export interface PipeCopyOptions {
  /**
   * Called with each row as the source sent it (one CopyData message per row in text format). The
   * buffer is only valid during the call.
   */
  readonly onRow?: (row: Buffer) => void;
  /** Called with the rows copied so far, at most every `progressEveryRows` rows. */
  readonly onProgress?: (rows: number) => void;
  /** @default 50_000 */
  readonly progressEveryRows?: number;
}

const FLUSH_BYTES = 256 * 1024;

/**
 * Runs `copyOutSql` (COPY … TO STDOUT) on `source` and streams its rows into `copyInSql`
 * (COPY … FROM STDIN) on `target`. Both statements must use the same format and columns.
 * @throws the source's or the target's error; the target's COPY is failed when the source's fails
 */
export async function pipeCopy(
  source: pg.Client,
  copyOutSql: string,
  target: pg.Client,
  copyInSql: string,
  options: PipeCopyOptions = {},
): Promise<CopyResult> {
  const copyIn = new CopyIn(copyInSql);
  const copyInDone = run(target, copyIn);
  copyInDone.catch(() => undefined);
  const wire = await copyIn.ready;

  // Rows are gathered in one reused buffer: pg copies each chunk into its own message before writing it.
  const pending = Buffer.allocUnsafe(FLUSH_BYTES);
  let pendingBytes = 0;
  let bytes = 0;
  let rows = 0;
  let targetFailed = false;
  const sourceStream = (source as unknown as { connection: WireConnection }).connection.stream;
  const progressEvery = options.progressEveryRows ?? 50_000;
  const send = (chunk: Buffer) => {
    if (targetFailed) return;
    wire.sendCopyFromChunk(chunk);
    if (wire.stream.writableNeedDrain) {
      // The target is slower than the source: stop reading the source's socket until it catches up.
      sourceStream.pause();
      wire.stream.once('drain', () => sourceStream.resume());
    }
  };
  const flush = () => {
    if (pendingBytes === 0) return;
    send(pending.subarray(0, pendingBytes));
    pendingBytes = 0;
  };
  copyInDone.catch(() => {
    targetFailed = true;
    sourceStream.resume();
  });

  const copyOut = new CopyOut(copyOutSql, (chunk) => {
    if (targetFailed) return;
    // The parser may reuse its buffer: the chunk is read before this returns, never kept.
    options.onRow?.(chunk);
    if (pendingBytes + chunk.length > FLUSH_BYTES) flush();
    if (chunk.length >= FLUSH_BYTES) send(chunk);
    else {
      chunk.copy(pending, pendingBytes);
      pendingBytes += chunk.length;
    }
    bytes += chunk.length;
    rows += 1;
    if (options.onProgress && rows % progressEvery === 0) options.onProgress(rows);
  });
  try {
    await run(source, copyOut);
  } catch (error) {
    if (!targetFailed) wire.sendCopyFail('the source of the copy failed');
    await copyInDone.catch(() => undefined);
    throw error;
  } finally {
    sourceStream.resume();
  }
  if (!targetFailed) {
    // The last rows and CopyDone go out in one write: a small batch's whole copy is one packet.
    wire.stream.cork();
    flush();
    wire.endCopyFrom();
    wire.stream.uncork();
  }
  const copied = await copyInDone;
  options.onProgress?.(rows);
  return { rows: copied, bytes };
}
