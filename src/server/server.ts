import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { appendAudit } from '../audit/index.ts';
import {
  type AnyRoute,
  type Clock,
  createLogger,
  type Logger,
  PACKAGE_ROOT,
  parseDuration,
  SLIPWAY_VERSION,
  SYSTEM_CLOCK,
} from '../core/index.ts';
import { CredentialCache, ensureBootstrapAdmin, sweepExpiredSessions } from '../identity/index.ts';
import { JobQueue, type SingletonLoop, startSingletonLoop } from '../jobs/index.ts';
import { Notifier } from '../notifications/index.ts';
import { createEnvelopeCipher, SecretVault } from '../secrets/index.ts';
import { inTransaction, lockDataDir, migrateToLatest, openStore, type Store } from '../store/index.ts';
import { buildApp, type RegisteredRoute } from './app.ts';
import type { ServerConfig } from './config.ts';
import { createServerMetrics } from './metrics.ts';
import {
  MODULE_MACHINE_AUTHENTICATORS,
  MODULE_MIGRATIONS,
  type ModuleService,
  moduleRoutes,
} from './modules.ts';
import { buildOpenApi } from './openapi.ts';
import { registerMachineAuthenticators } from './route-pipeline.ts';
import { systemRoutes } from './system-routes.ts';

/** A running control plane. */
export interface RunningServer {
  /** Base URL, like http://127.0.0.1:7400. */
  readonly url: string;
  readonly port: number;
  readonly store: Store;
  readonly queue: JobQueue;
  readonly app: FastifyInstance;
  /** The route definitions this server serves. */
  readonly routes: readonly AnyRoute[];
  /** Every method and URL Fastify answers, including plugin routes (static files). */
  readonly registeredRoutes: readonly RegisteredRoute[];
  /** The secret store's keys and sealed state (for the modules that resolve secrets). */
  readonly secretVault: SecretVault;
  /** Records notifications and delivers them (email, webhooks). */
  readonly notifier: Notifier;
  /** Set when this start created the first administrator with a generated password. */
  readonly generatedAdminPassword?: string;
  /** Milliseconds from the call to listening. */
  readonly startMs: number;
  /** Stops accepting requests, finishes in-flight ones, stops background work and the store. */
  close(): Promise<void>;
}

/** Options beyond the configuration. */
export interface StartServerOptions {
  readonly logger?: Logger;
  readonly clock?: Clock;
}

/** Starts the control plane: store, migrations, first administrator, background work, HTTP API. */
export async function startServer(
  config: ServerConfig,
  options: StartServerOptions = {},
): Promise<RunningServer> {
  const started = performance.now();
  const clock = options.clock ?? SYSTEM_CLOCK;
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse())
      await step().catch((error) => logger.error({ err: error }, 'shutdown step failed'));
    cleanups.length = 0;
  };

  // The root key is in `config` now; child processes (PostgreSQL, hooks) must not inherit it.
  delete process.env.SLIPWAY_ROOT_KEY;
  try {
    if (!config.databaseUrl) cleanups.push(await lockDataDir(config.dataDir));
    const store = await openStore({
      dataDir: config.dataDir,
      ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
      logger,
    });
    cleanups.push(() => store.close());
    const { applied } = await migrateToLatest(store.db, MODULE_MIGRATIONS);
    if (applied.length > 0) logger.info({ applied }, 'applied migrations');

    const bootstrap = await inTransaction(store.db, async (trx) => {
      const result = await ensureBootstrapAdmin(
        trx,
        config.adminPassword ? { password: config.adminPassword } : {},
      );
      if (result.created) {
        await appendAudit(
          trx,
          {
            actor: 'system:bootstrap',
            action: 'users.bootstrap-admin',
            target: `user:${result.username}`,
            outcome: 'success',
          },
          clock.now(),
        );
      }
      return result;
    });

    const credentialCache = new CredentialCache(store.pool, { logger });
    await credentialCache.start();
    cleanups.push(() => credentialCache.stop());

    const queue = await JobQueue.start(store.settings, { logger });
    cleanups.push(() => queue.stop());
    const secretVault = await SecretVault.open({
      db: store.db,
      rootKey: { file: config.rootKeyFile, value: config.rootKey },
      queue,
      logger,
      clock,
      versionsKept: config.secretVersionsKept,
    });
    const notifier = new Notifier({
      db: store.db,
      queue,
      clock,
      logger,
      cipher: () => createEnvelopeCipher(secretVault, 'notifications'),
    });
    await notifier.start();
    const loops: SingletonLoop[] = [
      startSingletonLoop(store.pool, {
        name: 'housekeeping',
        intervalMs: 60_000,
        logger,
        run: async () => {
          const swept = await sweepExpiredSessions(store.db, clock.now());
          if (swept > 0) logger.info({ swept }, 'deleted expired sessions');
        },
      }),
    ];
    cleanups.push(async () => {
      await Promise.all(loops.map((loop) => loop.stop()));
    });

    registerMachineAuthenticators(MODULE_MACHINE_AUTHENTICATORS);
    const metrics = createServerMetrics();
    const services: ModuleService[] = [];
    const routes = moduleRoutes({
      runtime: {
        store,
        queue,
        dataDir: config.dataDir,
        clock,
        logger,
        metrics: metrics.registry,
        ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
        addService: (service) => services.push(service),
      },
      clock,
      sessionTtlMs: parseDuration(config.sessionTtl, 'sessionTtl'),
      loginRateLimitPerMinute: config.loginRateLimit,
      secretVault,
      notifier,
      buildConcurrency: config.buildConcurrency,
    });
    let openApi: unknown;
    const allRoutes = [
      ...systemRoutes({
        store,
        metrics,
        version: SLIPWAY_VERSION,
        startedAt: clock.now(),
        ...(config.metricsToken ? { metricsToken: config.metricsToken } : {}),
        openApi: () => {
          openApi ??= buildOpenApi(allRoutes, { version: SLIPWAY_VERSION });
          return openApi;
        },
        status: async () => ({
          leader: Object.fromEntries(
            loops.map((loop, i) => [['housekeeping'][i] ?? String(i), loop.isLeader()]),
          ),
        }),
      }),
      ...routes,
    ];
    const https =
      config.tlsCert && config.tlsKey
        ? { cert: await readFile(config.tlsCert), key: await readFile(config.tlsKey) }
        : undefined;
    const { app, registeredRoutes } = await buildApp({
      store,
      routes: allRoutes,
      clock,
      logger,
      metrics,
      consoleDir: resolve(config.consoleDir ?? join(PACKAGE_ROOT, 'console', 'dist')),
      trustProxy: config.trustProxy,
      credentialCache,
      ...(https ? { https } : {}),
    });
    cleanups.push(() => app.close());
    for (const service of services) {
      await service.start();
      cleanups.push(() => service.stop());
    }
    await app.listen({ host: config.host, port: config.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `${https ? 'https' : 'http'}://${host}:${port}`;
    for (const service of services) service.listening?.(url);
    const startMs = Math.round(performance.now() - started);
    logger.info(
      { url, store: store.location, startMs, version: SLIPWAY_VERSION },
      'slipway server listening',
    );
    return {
      url,
      port,
      store,
      queue,
      app,
      routes: allRoutes,
      registeredRoutes,
      secretVault,
      notifier,
      startMs,
      ...(bootstrap.created && bootstrap.generatedPassword
        ? { generatedAdminPassword: bootstrap.generatedPassword }
        : {}),
      close: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
