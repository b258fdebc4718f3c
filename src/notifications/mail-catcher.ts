import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';

/** One message the catcher received. */
export interface CaughtMail {
  readonly file: string;
  readonly from: string;
  readonly to: readonly string[];
  readonly subject: string;
  readonly text: string;
  readonly raw: string;
}

/** A running mail catcher. */
export interface MailCatcher {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  /** Every message received so far, oldest first. */
  messages(): Promise<CaughtMail[]>;
  stop(): Promise<void>;
}

/** Decodes a quoted-printable or plain body, enough for the text Slipway sends. */
function decodeBody(headers: string, body: string): string {
  if (/content-transfer-encoding:\s*quoted-printable/i.test(headers)) {
    return body
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  }
  if (/content-transfer-encoding:\s*base64/i.test(headers))
    return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return body;
}

function decodeHeader(value: string): string {
  return value.replace(/=\?utf-8\?([BQ])\?([^?]*)\?=/gi, (_, kind: string, text: string) =>
    kind.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64').toString('utf8')
      : text
          .replace(/_/g, ' ')
          .replace(/=([0-9A-F]{2})/gi, (__, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
  );
}

function parseMail(file: string, raw: string, envelope: { from: string; to: string[] }): CaughtMail {
  const split = raw.search(/\r?\n\r?\n/);
  const headers = split >= 0 ? raw.slice(0, split) : raw;
  const body = split >= 0 ? raw.slice(split).replace(/^\r?\n\r?\n/, '') : '';
  const unfolded = headers.replace(/\r?\n[ \t]+/g, ' ');
  const subject = /^subject:\s*(.*)$/im.exec(unfolded)?.[1] ?? '';
  return {
    file,
    from: envelope.from,
    to: envelope.to,
    subject: decodeHeader(subject.trim()),
    text: decodeBody(headers, body),
    raw,
  };
}

/**
 * A local SMTP server that accepts every message on 127.0.0.1 and keeps it as an .eml file (with
 * its envelope in a .json beside it): the demo's mailbox, and the real SMTP peer of tests.
 */
export async function startMailCatcher(options: { dir: string; port?: number }): Promise<MailCatcher> {
  await mkdir(options.dir, { recursive: true });
  let count = (await readdir(options.dir)).filter((f) => f.endsWith('.eml')).length;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    banner: 'Slipway mail catcher',
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        count += 1;
        const name = String(count).padStart(6, '0');
        const envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
        };
        void Promise.all([
          writeFile(join(options.dir, `${name}.eml`), Buffer.concat(chunks)),
          writeFile(join(options.dir, `${name}.json`), JSON.stringify(envelope)),
        ]).then(
          () => callback(),
          (error: Error) => callback(error),
        );
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    host: '127.0.0.1',
    port,
    dir: options.dir,
    async messages() {
      const files = (await readdir(options.dir)).filter((f) => f.endsWith('.eml')).sort();
      return Promise.all(
        files.map(async (file) => {
          const raw = await readFile(join(options.dir, file), 'utf8');
          const envelope = JSON.parse(
            await readFile(join(options.dir, file.replace(/\.eml$/, '.json')), 'utf8').catch(
              () => '{"from":"","to":[]}',
            ),
          );
          return parseMail(join(options.dir, file), raw, envelope);
        }),
      );
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
