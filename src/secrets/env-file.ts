import { EnvFileWriteError } from './errors.ts';
import { writeFileAtomically } from './internal/atomic-file.ts';

/** Who owns the written file. */
export interface EnvFileOwner {
  /** The app user's uid; left as the writer's when undefined. */
  readonly uid?: number;
  /** The app user's group; left as the writer's when undefined. */
  readonly gid?: number;
}

/**
 * Replaces `path` with `text` atomically: readers see the old file or the new one, never a part.
 * The new file is created 0600 before any byte is written, owned by `uid`/`gid`, flushed to disk,
 * then renamed over the old one (a symlink at `path` is replaced, not followed), and the directory
 * is flushed. On failure the temporary file is removed and the old file is untouched.
 * @throws EnvFileWriteError naming the path and the system error code (never the text)
 */
export async function writeEnvFileAtomically(
  path: string,
  text: string,
  owner: EnvFileOwner = {},
): Promise<void> {
  try {
    await writeFileAtomically(path, text, owner);
  } catch (error) {
    throw new EnvFileWriteError(path, error);
  }
}
