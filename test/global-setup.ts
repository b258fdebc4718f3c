import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** End-to-end tests run the built CLI: rebuild dist/ when any source is newer than it. */
export default function setup(): void {
  const root = new URL('..', import.meta.url).pathname;
  const built = (() => {
    try {
      return statSync(join(root, 'dist', 'cli', 'main.js')).mtimeMs;
    } catch {
      return 0;
    }
  })();
  if (newestMtime(join(root, 'src')) > built) {
    // tsc still writes JavaScript when a file has type errors; reporting those is `npm run check`'s job.
    const result = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], {
      cwd: root,
      stdio: 'ignore',
    });
    if (result.status !== 0 && !existsSync(join(root, 'dist', 'cli', 'main.js'))) {
      throw new Error('Cannot build dist/: run `npx tsc -p tsconfig.build.json` to see why');
    }
  }
  // The console is served by the server and checked by the demo: rebuild it when its sources changed.
  const consoleSources = join(root, 'console', 'src');
  if (existsSync(join(root, 'console', 'vite.config.ts')) && existsSync(consoleSources)) {
    const consoleBuilt = existsSync(join(root, 'console', 'dist', 'index.html'))
      ? statSync(join(root, 'console', 'dist', 'index.html')).mtimeMs
      : 0;
    const consoleNewest = Math.max(
      newestMtime(consoleSources),
      statSync(join(root, 'console', 'index.html')).mtimeMs,
    );
    if (consoleNewest > consoleBuilt) {
      execFileSync(join(root, 'node_modules', '.bin', 'vite'), ['build', 'console', '--logLevel', 'warn'], {
        cwd: root,
        stdio: 'inherit',
      });
    }
  }
}
