import { createReadStream } from 'node:fs';
import type { FastifyReply } from 'fastify';

/** A byte range asked for, inclusive at both ends. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * Reads a Range header for a file of `size` bytes. Returns undefined to send the whole file (no
 * header, another unit, or several ranges, which a server may answer in full), or 'unsatisfiable'.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, first, last] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

/**
 * Streams a file as the reply, honouring a single Range (206) and answering 416 to a range past its
 * end. Memory stays flat whatever the file's size.
 */
export function sendFile(
  reply: FastifyReply,
  file: { readonly path: string; readonly size: number; readonly sha256: string; readonly filename: string },
  options: { readonly contentType: string; readonly attachment?: boolean },
): FastifyReply {
  const range = parseRange(reply.request.headers.range, file.size);
  reply
    .header('accept-ranges', 'bytes')
    .header('etag', `"${file.sha256}"`)
    .header('cache-control', 'private, max-age=31536000, immutable');
  if (options.attachment) reply.header('content-disposition', `attachment; filename="${file.filename}"`);
  if (range === 'unsatisfiable') {
    return reply
      .code(416)
      .header('content-range', `bytes */${file.size}`)
      .send({
        error: {
          code: 'INVALID_INPUT',
          message: `Cannot send the requested range: the file has ${file.size} bytes`,
          hint: 'Ask for a range inside the file, or for the whole file',
          requestId: String(reply.request.id),
        },
      });
  }
  reply.type(options.contentType);
  if (!range) {
    reply.header('content-length', String(file.size));
    return reply.code(200).send(createReadStream(file.path, { highWaterMark: 1 << 20 }));
  }
  reply
    .code(206)
    .header('content-range', `bytes ${range.start}-${range.end}/${file.size}`)
    .header('content-length', String(range.end - range.start + 1));
  return reply.send(
    createReadStream(file.path, { start: range.start, end: range.end, highWaterMark: 1 << 20 }),
  );
}
