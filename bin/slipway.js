#!/usr/bin/env node
// The `slipway` command. The TypeScript sources are compiled to dist/ by `npm run build`
// (scripts/bootstrap.sh runs it when dist/ is missing or older than src/).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('Cannot start slipway: the compiled CLI is missing (dist/cli/main.js)');
  console.error('Run `npm run build` in the Slipway checkout, then try again');
  process.exit(1);
}
await import(entry.href);
