/** Builders for agent tests: process specs and documents with sensible small defaults. */
import type { DesiredState, ProcessSpec } from './desired-state.ts';

/** A process spec running `command`, restarting fast. */
export function processSpec(
  name: string,
  command: readonly string[],
  overrides: Partial<ProcessSpec> = {},
): ProcessSpec {
  return {
    name,
    command,
    cwd: null,
    user: null,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    secretEnv: [],
    unresolvedSecrets: [],
    healthCheck: null,
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 2000,
    restart: { policy: 'always', initialDelayMs: 200, maxDelayMs: 2000, resetAfterMs: 10_000 },
    logs: { maxBytes: 1024 * 1024, keep: 2 },
    ...overrides,
  };
}

/** A desired-state document with the given processes. */
export function desiredState(revision: number, processes: readonly ProcessSpec[]): DesiredState {
  return {
    schemaVersion: 1,
    revision,
    environment: 'test',
    host: { id: '00000000-0000-4000-8000-000000000000', name: 'web-1', services: ['web'] },
    release: null,
    processes,
    tasks: [],
  };
}

/** Node code for a tiny HTTP server on $PORT answering 200 on /healthz (for `node -e`). */
export const TINY_HTTP_SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  res.setHeader('x-served-by', process.env.HOSTNAME_LABEL || 'unknown');
  res.end(req.url === '/healthz' ? 'ok' : 'hello from ' + (process.env.HOSTNAME_LABEL || 'unknown'));
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

/** Waits until `check` holds, polling every 50 ms. */
export async function eventually<T>(
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
  what = 'the condition',
): Promise<Exclude<T, undefined | null | false | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as Exclude<T, undefined | null | false | 0 | ''>;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
