/**
 * Runs inside the evaluation sandbox (bubblewrap: no network, the repository read-only, a private
 * /tmp): bundles each `environments/*.ts` file of the repository with esbuild, runs it, and prints
 * one JSON document with every environment and every problem to standard output.
 *
 * Usage: node sandbox-runner.js REPOSITORY_DIR DSL_ENTRY OUTPUT_DIR
 * This file imports nothing of Slipway's: the DSL comes in through each bundle.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface FileResult {
  readonly file: string;
  readonly environments: readonly unknown[];
  readonly problems: readonly { path: string; value?: unknown; message: string; fix: string }[];
}

const ENVIRONMENT_FILE = /^[a-z][a-z0-9-]{0,30}\.(ts|mts|js|mjs)$/;

function firstUserFrame(error: unknown, file: string): string | undefined {
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  const line = stack.split('\n').find((l) => l.includes(file));
  return line?.trim();
}

async function evaluateFile(
  repository: string,
  dslEntry: string,
  outDir: string,
  file: string,
): Promise<FileResult> {
  const esbuild = await import('esbuild');
  const outfile = join(outDir, `${file.replace(/[^a-z0-9.-]/gi, '_')}.mjs`);
  const entry = [
    `export * as __slipwayDsl from 'slipway/environments';`,
    `import ${JSON.stringify(`./${file}`)};`,
  ].join('\n');
  try {
    await esbuild.build({
      stdin: { contents: entry, resolveDir: repository, sourcefile: '(slipway entry)', loader: 'js' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile,
      alias: { 'slipway/environments': dslEntry },
      sourcemap: 'inline',
      logLevel: 'silent',
      write: true,
    });
  } catch (error) {
    const messages = (
      error as { errors?: { text: string; location?: { file: string; line: number; column: number } }[] }
    ).errors ?? [{ text: String(error) }];
    return {
      file,
      environments: [],
      problems: messages.map((m) => ({
        path: m.location ? `${m.location.file}:${m.location.line}:${m.location.column}` : file,
        message: `cannot compile the file: ${m.text}`,
        fix: 'Fix the TypeScript error at that line (environment files may import "slipway/environments" and files of the repository)',
      })),
    };
  }
  try {
    process.setSourceMapsEnabled(true);
    const module = (await import(pathToFileURL(outfile).href)) as {
      __slipwayDsl: {
        synthesizeEnvironments(): { environments: unknown[]; problems: FileResult['problems'] };
      };
    };
    const result = module.__slipwayDsl.synthesizeEnvironments();
    return { file, environments: result.environments, problems: result.problems };
  } catch (error) {
    const where = firstUserFrame(error, file);
    return {
      file,
      environments: [],
      problems: [
        {
          path: file,
          message: `the file threw while it ran: ${error instanceof Error ? error.message : String(error)}${where ? ` (${where})` : ''}`,
          fix: 'Fix the code at that line; a definition records its problems instead of throwing unless it is misused',
        },
      ],
    };
  }
}

async function main(): Promise<void> {
  const [repository, dslEntry, outDir] = process.argv.slice(2);
  if (!repository || !dslEntry || !outDir)
    throw new Error('usage: sandbox-runner REPOSITORY DSL_ENTRY OUTPUT_DIR');
  await mkdir(outDir, { recursive: true });
  const directory = join(repository, 'environments');
  const entries = await readdir(directory, { withFileTypes: true }).catch(() => []);
  const files: FileResult[] = [];
  const skipped: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isFile()) continue;
    if (entry.name.endsWith('.d.ts') || entry.name.includes('.test.')) continue;
    if (!ENVIRONMENT_FILE.test(entry.name)) {
      if (/\.(ts|mts|js|mjs)$/.test(entry.name)) skipped.push(`environments/${entry.name}`);
      continue;
    }
    files.push(await evaluateFile(repository, dslEntry, outDir, `environments/${entry.name}`));
  }
  process.stdout.write(`${JSON.stringify({ files, skipped })}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
