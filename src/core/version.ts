import { readFileSync } from 'node:fs';

/** Slipway's version, from its package.json. */
export const SLIPWAY_VERSION: string = (() => {
  for (const path of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'slipway' && pkg.version) return pkg.version;
    } catch {
      // try the next location: sources run from src/, builds from dist/
    }
  }
  return '0.0.0';
})();

/** The root of the Slipway package (where package.json is). */
export const PACKAGE_ROOT: string = new URL('../../', import.meta.url).pathname;
