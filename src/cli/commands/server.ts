import type { Command } from 'commander';
import { loadServerConfig, type RunningServer, startServer } from '../../server/index.ts';

/** Stops the server on SIGINT/SIGTERM and exits once it has stopped. */
export function stopOnSignals(server: RunningServer, onStopped: () => void = () => process.exit(0)): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\nReceived ${signal}: stopping Slipway (finishing in-flight requests)…\n`);
    void server.close().finally(onStopped);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

/** Prints the one-time bootstrap administrator password. */
export function announceAdminPassword(server: RunningServer): void {
  if (!server.generatedAdminPassword) return;
  process.stderr.write(
    [
      '',
      '──────────────────────────────────────────────────────────────',
      ' First start: created the administrator "admin".',
      ` Password (shown once, store it now): ${server.generatedAdminPassword}`,
      ' Set SLIPWAY_ADMIN_PASSWORD before the first start to choose it.',
      '──────────────────────────────────────────────────────────────',
      '',
    ].join('\n'),
  );
}

/** slipway server */
export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .description('Run the control plane (HTTP API, console, background work)')
    .option('--data-dir <dir>', 'data directory; the embedded PostgreSQL lives here (env SLIPWAY_DATA_DIR)')
    .option('--host <host>', 'address to listen on (env SLIPWAY_HOST)')
    .option('--port <port>', 'port to listen on (env SLIPWAY_PORT)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug (env SLIPWAY_LOG_LEVEL)')
    .option(
      '--root-key-file <file>',
      "the secrets store's root key (env SLIPWAY_ROOT_KEY_FILE); without one it starts sealed",
    )
    .action(
      async (options: {
        dataDir?: string;
        host?: string;
        port?: string;
        logLevel?: string;
        rootKeyFile?: string;
      }) => {
        const config = loadServerConfig({
          dataDir: options.dataDir,
          host: options.host,
          port: options.port,
          logLevel: options.logLevel,
          rootKeyFile: options.rootKeyFile,
        });
        const server = await startServer(config);
        announceAdminPassword(server);
        process.stderr.write(
          `Slipway ${server.url} is ready (started in ${server.startMs} ms; ${server.store.location})\n`,
        );
        stopOnSignals(server);
      },
    );
}
