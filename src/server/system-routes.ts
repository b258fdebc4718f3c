import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import {
  type AnyRoute,
  defineRoute,
  PLATFORM,
  UnauthenticatedError,
  UnavailableError,
} from '../core/index.ts';
import { pingDatabase, type Store } from '../store/index.ts';
import type { ServerMetrics } from './metrics.ts';

/** What the system routes report on. */
export interface SystemRouteDeps {
  readonly store: Store;
  readonly metrics: ServerMetrics;
  readonly version: string;
  readonly startedAt: Date;
  readonly metricsToken?: string;
  /** The OpenAPI document, built once all routes are known. */
  readonly openApi: () => unknown;
  /** Facts other parts add to /api/status (job queue, leader loops, …). */
  readonly status: () => Promise<Record<string, unknown>>;
}

function tokenMatches(expected: string, header: string | undefined): boolean {
  const presented = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1] ?? '';
  const a = Buffer.from(expected);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Health, readiness, metrics, the OpenAPI document and the platform status. */
export function systemRoutes(deps: SystemRouteDeps): AnyRoute[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/healthz',
      summary: 'Liveness: the process is up',
      tags: ['system'],
      access: 'public',
      response: z.object({ status: z.literal('ok') }),
      async handler() {
        return { status: 'ok' as const };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/readyz',
      summary: 'Readiness: the database answers',
      tags: ['system'],
      access: 'public',
      response: z.object({ status: z.literal('ready') }),
      async handler() {
        try {
          await pingDatabase(deps.store);
        } catch (error) {
          throw new UnavailableError('Not ready: the database does not answer', {
            hint: 'Check that PostgreSQL is running and reachable',
            cause: error,
          });
        }
        return { status: 'ready' as const };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/metrics',
      summary: 'Prometheus metrics (behind a scrape token when one is configured)',
      tags: ['system'],
      access: 'public',
      raw: true,
      async handler(context) {
        if (
          deps.metricsToken &&
          !tokenMatches(deps.metricsToken, context.reply.request.headers.authorization)
        ) {
          throw new UnauthenticatedError('The metrics scrape token is missing or wrong', {
            hint: 'Send "Authorization: Bearer <SLIPWAY_METRICS_TOKEN>"',
          });
        }
        const text = await deps.metrics.registry.metrics();
        context.reply.header('content-type', deps.metrics.registry.contentType).send(text);
        return undefined;
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/openapi.json',
      summary: 'The OpenAPI document of this API',
      tags: ['system'],
      access: 'authenticated',
      raw: true,
      async handler(context) {
        context.reply.send(deps.openApi());
        return undefined;
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/status',
      summary: 'Platform status: version, uptime, store, background work',
      tags: ['system'],
      access: { role: 'viewer', scope: PLATFORM },
      response: z.object({
        version: z.string(),
        startedAt: z.string(),
        uptimeSeconds: z.number(),
        store: z.object({ location: z.string(), reachable: z.boolean() }),
        components: z.record(z.string(), z.unknown()),
      }),
      async handler() {
        const reachable = await pingDatabase(deps.store).then(
          () => true,
          () => false,
        );
        return {
          version: deps.version,
          startedAt: deps.startedAt.toISOString(),
          uptimeSeconds: Math.round((Date.now() - deps.startedAt.getTime()) / 1000),
          store: { location: deps.store.location, reachable },
          components: await deps.status(),
        };
      },
    }),
  ];
}
