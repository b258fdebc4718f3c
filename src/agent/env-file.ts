/**
 * The app's environment file (Laravel's `.env`), as the agent writes it: the same text and the same
 * atomic, private write as the secrets module's `renderLaravelEnv` and `writeEnvFileAtomically`,
 * copied here so the agent does not load the control plane's stack.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Names a `.env` reader accepts (phpdotenv's rule). */
const NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;
/** Values written without quotes. */
const PLAIN = /^[A-Za-z0-9_./:@%+,=-]+$/;

const COMMENT = '# Written by Slipway at each release; edits here are replaced at the next one.';

/** A value quoted so that phpdotenv 5 and Slipway's parser read it back exactly. */
export function quoteEnvValue(value: string): string {
  if (value === '') return '';
  if (PLAIN.test(value)) return value;
  if (!/['"\n\r]/.test(value)) return `'${value}'`;
  const escaped = value.replace(/[\\"$\n\r]/g, (char) =>
    char === '\n' ? '\\n' : char === '\r' ? '\\r' : `\\${char}`,
  );
  return `"${escaped}"`;
}

/**
 * The text of an env file: one `NAME=value` per variable, sorted by name.
 * @throws Error naming a variable that is not a valid name (never its value)
 */
export function renderEnvFile(variables: Readonly<Record<string, string>>): string {
  const names = Object.keys(variables).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const lines = [COMMENT];
  for (const name of names) {
    if (!NAME.test(name))
      throw new Error(`cannot write "${name}" to the env file: it is not a variable name`);
    lines.push(`${name}=${quoteEnvValue(variables[name]!)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Replaces `path` with `text` atomically: a 0600 temporary file in the same directory (created before
 * any byte is written, owned by `uid`/`gid`), flushed, renamed over `path` (a symlink there is
 * replaced, not followed), then the directory flushed. On failure the temporary file is removed and
 * the old file is untouched.
 * @throws Error naming the path and the system error code (never the text)
 */
export async function writeEnvFileAtomically(
  path: string,
  text: string,
  owner: { readonly uid?: number; readonly gid?: number } = {},
): Promise<void> {
  try {
    await writePrivateFileAtomically(path, text, owner);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'an unknown error';
    throw new Error(`cannot write the env file ${path}: ${code}`);
  }
}

/**
 * The atomic 0600 write of `writeEnvFileAtomically`, for any private file (apt's auth.conf).
 * @throws the system error as is (its message names the path, never the text)
 */
export async function writePrivateFileAtomically(
  path: string,
  text: string,
  owner: { readonly uid?: number; readonly gid?: number } = {},
): Promise<void> {
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let created = false;
  try {
    const file = await open(
      temporary,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    created = true;
    try {
      await file.chmod(0o600); // the umask can only take bits away; say exactly what is meant
      if (owner.uid !== undefined || owner.gid !== undefined)
        await file.chown(owner.uid ?? -1, owner.gid ?? -1);
      await file.writeFile(text, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
    created = false;
    const dir = await open(directory, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (error) {
    if (created) await unlink(temporary).catch(() => undefined);
    throw error;
  }
}
