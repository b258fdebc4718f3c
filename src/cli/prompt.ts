import { createInterface } from 'node:readline';
import { InvalidInputError } from '../core/index.ts';

/** Reads all of standard input, without the final newline. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Asks a question on the terminal. */
export async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await new Promise((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
  }
}

/** Asks for a secret on the terminal without echoing it. */
export async function askHidden(question: string): Promise<string> {
  if (!process.stdin.isTTY) {
    throw new InvalidInputError('Cannot ask for a password: standard input is not a terminal', {
      hint: 'Pipe the password in and add --password-stdin',
    });
  }
  process.stderr.write(question);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  let value = '';
  return new Promise((resolve, reject) => {
    const onData = (data: Buffer) => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') {
          finish();
          resolve(value);
          return;
        }
        if (char === '\u0003') {
          finish();
          reject(new InvalidInputError('Cancelled'));
          return;
        }
        if (char === '\u007f') value = value.slice(0, -1);
        else value += char;
      }
    };
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}

/** A password from stdin (with --password-stdin) or a hidden prompt; never from argv. */
export async function readPassword(
  options: { passwordStdin?: boolean },
  question = 'Password: ',
): Promise<string> {
  const password = options.passwordStdin ? await readStdin() : await askHidden(question);
  if (!password)
    throw new InvalidInputError('Cannot continue: the password is empty', { hint: 'Provide a password' });
  return password;
}
