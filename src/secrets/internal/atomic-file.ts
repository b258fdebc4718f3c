import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Replaces `path` with `text`: a 0600 temporary file in the same directory (created before any byte
 * is written, owned as asked), flushed, renamed over `path`, then the directory flushed. On failure
 * the temporary file is removed and `path` is untouched; the system error is thrown as is.
 */
export async function writeFileAtomically(
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
    await syncDirectory(directory);
  } catch (error) {
    if (created) await unlink(temporary).catch(() => undefined);
    throw error;
  }
}

/** Flushes a directory, so a rename in it survives a crash. */
export async function syncDirectory(directory: string): Promise<void> {
  const dir = await open(directory, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
