import type { Writable } from 'node:stream';

/**
 * Resolves once `stream` has closed, destroying it first when nothing has. `pipeline` settles on the
 * first error, while a file stream on the other end may still be opening or closing its file: a file
 * removed before then can be created again by the late open.
 */
export async function closed(stream: Writable): Promise<void> {
  if (stream.closed) return;
  const done = new Promise<void>((resolve) => stream.once('close', () => resolve()));
  stream.destroy();
  await done;
}
