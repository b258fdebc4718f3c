/** Runs every benchmark in bench/ one after another (or the ones named: `npm run bench -- api`). */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const here = new URL('.', import.meta.url).pathname;
const wanted = process.argv.slice(2);
const benches = readdirSync(here)
  // Benchmarks only: not this runner, its helpers (support.ts, load.ts) or type declarations.
  .filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !['run.ts', 'support.ts', 'load.ts'].includes(f),
  )
  .map((f) => f.replace(/\.ts$/, ''))
  .filter((name) => wanted.length === 0 || wanted.includes(name));
let failed = 0;
for (const name of benches) {
  process.stdout.write(`\n=== bench/${name}.ts ===\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', `${here}${name}.ts`], { stdio: 'inherit' });
  if (result.status !== 0) failed += 1;
}
process.exit(failed === 0 ? 0 : 1);
