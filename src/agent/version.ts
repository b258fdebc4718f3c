import { readFileSync } from 'node:fs';

/** The agent's version: Slipway's, from package.json (without importing the control plane's core). */
export const AGENT_VERSION: string = (() => {
  for (const path of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'slipway' && pkg.version) return pkg.version;
    } catch {
      // sources run from src/, builds from dist/
    }
  }
  return '0.0.0';
})();
