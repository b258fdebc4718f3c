import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, InvalidInputError, randomToken } from '../core/index.ts';

/** Marks a hook Slipway wrote, so installing again replaces it and nothing else. */
export const HOOK_MARKER = '# slipway-post-receive-hook';

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The file next to the hook that holds its secret (mode 0600). */
export const HOOK_SECRET_FILE = 'slipway-post-receive.secret';

/**
 * The post-receive hook for an app: it reports every push (git's "<old> <new> <ref>" lines) to
 * Slipway's webhook, signed with the hook's secret (HMAC-SHA256), and prints Slipway's answer. It never
 * rejects a push, and gives up after 10 s when Slipway cannot be reached. Needs sh, od, openssl and curl.
 *
 * The secret is not in the script: it is read from `HOOK_SECRET_FILE` beside it, and never reaches a
 * command line or an environment (other users see both, through ps and /proc). The HMAC is computed
 * with the shell's own arithmetic and printf (builtins: no process, no argv), openssl only hashes
 * what it reads on standard input, and curl reads the signature header and the body from files.
 */
export function renderPostReceiveHook(input: { readonly url: string; readonly app: string }): string {
  const endpoint = `${input.url.replace(/\/+$/, '')}/api/webhooks/${input.app}`;
  return `#!/bin/sh
${HOOK_MARKER}
# Installed by \`slipway apps hook install ${input.app}\`: tells Slipway about every push, so a push to
# the tracked branch starts a run. It never rejects a push. Reinstall to change the URL or the secret.
#
# The secret is in ${HOOK_SECRET_FILE} next to this file (mode 0600). It never goes on a
# command line or into the environment, where other users could read it (ps, /proc): the HMAC-SHA256
# (RFC 2104) is computed with shell builtins, openssl only hashes standard input, curl reads files.
endpoint=${shellQuote(endpoint)}
case $0 in */*) key="\${0%/*}/${HOOK_SECRET_FILE}" ;; *) key=./${HOOK_SECRET_FILE} ;; esac

umask 077
work=$(mktemp -d) || exit 0
trap 'rm -rf "$work"' EXIT
cat > "$work/body"
[ -s "$work/body" ] || exit 0
if ! [ -r "$key" ]; then
  echo "slipway: cannot read $key: reinstall the hook with \\\`slipway apps hook install ${input.app}\\\`" >&2
  exit 0
fi

# The key's bytes as decimal numbers; a key longer than SHA-256's 64-byte block is hashed first.
key_size=$(wc -c < "$key")
if [ $key_size -gt 64 ]; then
  key_bytes=$(openssl dgst -sha256 -binary < "$key" | od -An -v -tu1)
else
  key_bytes=$(od -An -v -tu1 < "$key")
fi
# Writes one byte given as a number (three octal digits for printf's escape).
byte() {
  octal=$(( 1000 + ($1 >> 6) * 100 + (($1 >> 3) & 7) * 10 + ($1 & 7) ))
  printf "\\\\\${octal#1}"
}
# Writes the key XOR a pad byte, filled up to the 64-byte block with the pad byte itself.
pad() {
  n=0
  for b in $key_bytes; do byte $(( b ^ $1 )); n=$(( n + 1 )); done
  while [ "$n" -lt 64 ]; do byte "$1"; n=$(( n + 1 )); done
}
pad 54 > "$work/inner-pad" && pad 92 > "$work/outer-pad" || exit 0
key_bytes=
cat "$work/inner-pad" "$work/body" | openssl dgst -sha256 -binary > "$work/inner" || exit 0
signature=$(cat "$work/outer-pad" "$work/inner" | openssl dgst -sha256 -r | cut -d' ' -f1)
printf 'Content-Type: text/plain\\nX-Slipway-Signature: sha256=%s\\n' "$signature" > "$work/headers"

if answer=$(curl --silent --show-error --max-time 10 -X POST -H "@$work/headers" \\
    --data-binary "@$work/body" "$endpoint" 2>&1); then
  message=$(printf '%s' "$answer" | sed -n 's/.*"message":"\\([^"]*\\)".*/\\1/p')
  echo "slipway: \${message:-$answer}"
else
  echo "slipway: could not reach Slipway at $endpoint: $answer" >&2
fi
exit 0
`;
}

/**
 * Writes the hook into a bare repository: hooks/post-receive (mode 0755; it holds no secret) and its
 * secret beside it in hooks/slipway-post-receive.secret (mode 0600, readable by the installing user
 * only: pushes must run the hook as that user, as a git service account does). Each file is written
 * beside its place and renamed into it, so a push never sees half a file.
 * @throws InvalidInputError when the directory is not a bare repository, ConflictError when another
 *   post-receive hook is there (unless `force`)
 */
export async function installPostReceiveHook(
  gitDir: string,
  hook: { readonly url: string; readonly app: string; readonly secret: string },
  options: { readonly force?: boolean } = {},
): Promise<string> {
  if (!existsSync(join(gitDir, 'HEAD')) || !existsSync(join(gitDir, 'objects'))) {
    throw new InvalidInputError(`Cannot install the hook: "${gitDir}" is not a bare git repository`, {
      hint: 'Give the directory of the bare repository the team pushes to (the one holding HEAD, objects/, hooks/)',
    });
  }
  const path = join(gitDir, 'hooks', 'post-receive');
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  if (existing !== undefined && !existing.includes(HOOK_MARKER) && !options.force) {
    throw new ConflictError(`Cannot install the hook: "${path}" exists and was not written by Slipway`, {
      hint: "Call Slipway's hook from it yourself, or pass --force to replace it",
      retryable: false,
    });
  }
  await mkdir(join(gitDir, 'hooks'), { recursive: true });
  // The secret first: the hook that reads it replaces an older one (which held its secret inline).
  await replaceFile(join(gitDir, 'hooks', HOOK_SECRET_FILE), hook.secret, 0o600);
  await replaceFile(path, renderPostReceiveHook(hook), 0o755);
  return path;
}

async function replaceFile(path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.slipway-${process.pid}-${randomToken(6)}`;
  // 'wx': a fresh file, so the mode applies from its first byte; chmod again against the umask.
  await writeFile(temporary, content, { mode, flag: 'wx' });
  try {
    await chmod(temporary, mode);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
