import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, InvalidInputError } from '../core/index.ts';

/** Marks a hook Slipway wrote, so installing again replaces it and nothing else. */
export const HOOK_MARKER = '# slipway-post-receive-hook';

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The post-receive hook for an app: it reports every push (git's "<old> <new> <ref>" lines) to
 * Slipway's webhook, signed with the hook's secret (HMAC-SHA256), and prints Slipway's answer. It never
 * rejects a push, and gives up after 10 s when Slipway cannot be reached. Needs sh, openssl and curl.
 */
export function renderPostReceiveHook(input: {
  readonly url: string;
  readonly app: string;
  readonly secret: string;
}): string {
  const endpoint = `${input.url.replace(/\/+$/, '')}/api/webhooks/${input.app}`;
  return `#!/bin/sh
${HOOK_MARKER}
# Installed by \`slipway apps hook install ${input.app}\`: tells Slipway about every push, so a push to
# the tracked branch starts a run. It never rejects a push. Reinstall to change the URL or the secret.
endpoint=${shellQuote(endpoint)}
secret=${shellQuote(input.secret)}

body=$(mktemp) || exit 0
trap 'rm -f "$body"' EXIT
cat > "$body"
[ -s "$body" ] || exit 0
signature=$(openssl dgst -sha256 -hmac "$secret" -r "$body" | cut -d' ' -f1)
if answer=$(curl --silent --show-error --max-time 10 -X POST \\
    -H 'Content-Type: text/plain' -H "X-Slipway-Signature: sha256=$signature" \\
    --data-binary "@$body" "$endpoint" 2>&1); then
  message=$(printf '%s' "$answer" | sed -n 's/.*"message":"\\([^"]*\\)".*/\\1/p')
  echo "slipway: \${message:-$answer}"
else
  echo "slipway: could not reach Slipway at $endpoint: $answer" >&2
fi
exit 0
`;
}

/**
 * Writes the hook into a bare repository (hooks/post-receive, mode 0700: it holds a secret).
 * @throws InvalidInputError when the directory is not a bare repository, ConflictError when another
 *   post-receive hook is there (unless `force`)
 */
export async function installPostReceiveHook(
  gitDir: string,
  script: string,
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
  const temporary = `${path}.slipway-${process.pid}`;
  await writeFile(temporary, script, { mode: 0o700 });
  await chmod(temporary, 0o700);
  await rename(temporary, path);
  return path;
}
