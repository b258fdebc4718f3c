/**
 * The agent's own entry point, light enough to run on every host: `node dist/agent/main.js
 * --server URL --state-dir DIR [--log-dir DIR] [--join-token-file FILE]`. (`slipway agent run` does the
 * same through the full CLI.) It imports nothing of the control plane.
 */

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from './agent.ts';
import { AptInstaller } from './apt-installer.ts';
import { AGENT_VERSION } from './version.ts';

const { values } = parseArgs({
  options: {
    server: { type: 'string' },
    'state-dir': { type: 'string', default: '/var/lib/slipway-agent' },
    'log-dir': { type: 'string', default: '/var/log/slipway' },
    'join-token-file': { type: 'string' },
    'report-interval': { type: 'string', default: '2000' },
    // Names the agent's process (environment/host) so its provider finds it; the agent ignores it.
    label: { type: 'string' },
  },
  strict: true,
});

if (!values.server) {
  process.stderr.write('slipway-agent: --server URL is required (the control plane the agent pulls from)\n');
  process.exit(2);
}

const agent = new Agent({
  server: values.server,
  stateDirectory: values['state-dir']!,
  logDirectory: values['log-dir']!,
  ...(values['join-token-file'] ? { joinTokenFile: values['join-token-file'] } : {}),
  ...(process.env.SLIPWAY_JOIN_TOKEN ? { joinToken: process.env.SLIPWAY_JOIN_TOKEN } : {}),
  reportIntervalMs: Number(values['report-interval']),
  version: AGENT_VERSION,
  // Releases come from the environment's APT channel; apt's auth.conf sits with the credential.
  installer: new AptInstaller({ authFile: join(values['state-dir']!, 'apt-auth.conf') }),
});

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`slipway-agent: ${signal}: stopping every process gracefully\n`);
  void agent.stop().finally(() => process.exit(0));
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
agent.start();
