import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastifyCookie from '@fastify/cookie';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import {
  type AnyRoute,
  type Clock,
  ErrorCode,
  type Logger,
  NotFoundError,
  type SlipwayError,
} from '../core/index.ts';
import type { CredentialCache } from '../identity/index.ts';
import type { Store } from '../store/index.ts';
import { errorBody, fromFastifyError } from './http-errors.ts';
import type { ServerMetrics } from './metrics.ts';
import { routeHandler } from './route-pipeline.ts';

/** What the HTTP app is built from. */
export interface AppOptions {
  readonly store: Store;
  readonly routes: readonly AnyRoute[];
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  /** The built console (index.html and assets); a notice page is served when missing. */
  readonly consoleDir?: string;
  readonly trustProxy?: boolean;
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
  readonly credentialCache?: CredentialCache;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
const DEFAULT_BODY_LIMIT = 1024 * 1024;

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
};

const CONSOLE_MISSING = `<!doctype html><meta charset="utf-8"><title>Slipway</title>
<p>The Slipway console has not been built. Run <code>npm run build</code> in the Slipway checkout, then reload.</p>`;

/** A route as Fastify registered it (including plugin routes such as static files). */
export interface RegisteredRoute {
  readonly method: string;
  readonly url: string;
}

/** The built app and every route it answers. */
export interface BuiltApp {
  readonly app: FastifyInstance;
  readonly registeredRoutes: readonly RegisteredRoute[];
}

/** Builds the Fastify app: plugins, error handling, metrics, every route, and the console. */
export async function buildApp(options: AppOptions): Promise<BuiltApp> {
  const app = Fastify({
    loggerInstance: options.logger,
    trustProxy: options.trustProxy ?? false,
    bodyLimit: DEFAULT_BODY_LIMIT,
    genReqId: (request: import('node:http').IncomingMessage) => {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    requestIdHeader: false,
    // One log line per request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    ...(options.https ? { https: { cert: options.https.cert, key: options.https.key } } : {}),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  const registeredRoutes: RegisteredRoute[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) registeredRoutes.push({ method, url: route.url });
  });

  await app.register(fastifyCookie);
  await app.register(fastifyRateLimit, { global: false });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    options.metrics.httpDuration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    const level = reply.statusCode >= 500 ? 'error' : 'info';
    request.log[level](
      {
        method: request.method,
        url: request.url,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });

  app.setErrorHandler(async (error, request, reply) => {
    const failure = fromFastifyError(error);
    if (failure.code === ErrorCode.Internal) {
      request.log.error({ err: failure.cause ?? error, requestId: request.id }, 'internal error');
    }
    if (
      failure.code === ErrorCode.TooManyRequests &&
      failure.details &&
      typeof failure.details === 'object'
    ) {
      const retry = (failure.details as { retryAfterSeconds?: number }).retryAfterSeconds;
      if (retry) reply.header('retry-after', String(retry));
    }
    return reply.code(failure.httpStatus).send(errorBody(failure, String(request.id)));
  });

  const addRoute = (scope: FastifyInstance, route: AnyRoute) => {
    if (route.method !== 'GET' && !route.audit) {
      throw new Error(`Route ${route.method} ${route.path} changes state but declares no audit action`);
    }
    if (route.rawBody && route.body) {
      throw new Error(
        `Route ${route.method} ${route.path} takes a raw body and cannot declare a body schema`,
      );
    }
    scope.route({
      method: route.method,
      url: route.path,
      bodyLimit: route.bodyLimit ?? DEFAULT_BODY_LIMIT,
      ...(route.rateLimit
        ? { config: { rateLimit: { max: route.rateLimit.max, timeWindow: route.rateLimit.windowMs } } }
        : {}),
      handler: routeHandler(route, {
        store: options.store,
        clock: options.clock,
        ...(options.credentialCache ? { credentialCache: options.credentialCache } : {}),
      }),
    });
  };
  for (const route of options.routes) if (!route.rawBody) addRoute(app, route);
  // Raw-body routes live in scopes of their own whose content-type parsers take any body as it came:
  // whole, for signatures computed over the exact bytes; or unread, for uploads streamed to disk.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    for (const route of options.routes) if (route.rawBody === 'buffer') addRoute(scope, route);
  });
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    for (const route of options.routes) if (route.rawBody === 'stream') addRoute(scope, route);
  });

  const consoleDir = options.consoleDir;
  const hasConsole = consoleDir !== undefined && existsSync(join(consoleDir, 'index.html'));
  if (hasConsole) {
    await app.register(fastifyStatic, {
      root: consoleDir,
      prefix: '/',
      wildcard: false,
      index: ['index.html'],
    });
  }
  const indexHtml = hasConsole ? readFileSync(join(consoleDir, 'index.html')) : Buffer.from(CONSOLE_MISSING);

  app.setNotFoundHandler(async (request, reply) => {
    // The console routes in the browser: any other GET for a page gets the console's index.
    if (
      request.method === 'GET' &&
      !request.url.startsWith('/api/') &&
      (request.headers.accept ?? '').includes('text/html')
    ) {
      return reply.code(200).type('text/html; charset=utf-8').send(indexHtml);
    }
    const failure: SlipwayError = new NotFoundError(
      `No route for ${request.method} ${request.url.split('?')[0]}`,
      {
        hint: 'See GET /api/openapi.json for the routes this server has',
      },
    );
    return reply.code(404).send(errorBody(failure, String(request.id)));
  });

  return { app, registeredRoutes };
}
