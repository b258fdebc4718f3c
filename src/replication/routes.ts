import { z } from 'zod';
import { type AnyRoute, defineRoute, PLATFORM } from '../core/index.ts';
import {
  CreateLinkBody,
  DdlBody,
  DdlResult,
  DropQuery,
  LinkDetail,
  LinkParams,
  LinkSummary,
  PromoteResult,
  ResyncBody,
  VerifyBody,
  VerifyResult,
} from './schema.ts';
import type { ReplicationService } from './service.ts';

const tags = ['replication'];
const target = (input: { params: { name: string } }) => `replication-link:${input.params.name}`;
const actor = (principal: { username: string } | undefined) => principal?.username ?? 'unknown';

/**
 * The replication routes: viewers read links and their status; platform administrators change them.
 * Operations that reach the link's databases run outside the control plane's transaction (their audit
 * entry is written after them); connection strings are never returned, logged or audited.
 */
export function replicationRoutes(service: () => ReplicationService): AnyRoute[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/api/replication/links',
      summary: 'List replication links with their status',
      tags,
      access: { role: 'viewer', scope: PLATFORM },
      response: z.array(LinkSummary),
      async handler(context) {
        return service().list(context.db);
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/replication/links/:name',
      summary: 'Show a replication link: status, tables, lag, last error and events',
      tags,
      access: { role: 'viewer', scope: PLATFORM },
      params: LinkParams,
      response: LinkDetail,
      async handler(context) {
        return service().get(context.db, context.input.params.name);
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/replication/links',
      summary: 'Create a replication link (installs capture on the source and protection on the target)',
      tags,
      access: { role: 'admin', scope: PLATFORM },
      body: CreateLinkBody,
      response: LinkDetail,
      transaction: false,
      audit: { action: 'replication.create', target: (input) => `replication-link:${input.body.name}` },
      async handler(context) {
        const body = context.input.body;
        context.audit.details = {
          applier: body.applier,
          ...(body.tables ? { tables: body.tables.length } : { schema: body.schema }),
        };
        return service().create(context.db, body, actor(context.principal));
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/replication/links/:name/start',
      summary: 'Start (or resume) applying changes',
      tags,
      access: { role: 'admin', scope: PLATFORM },
      params: LinkParams,
      response: LinkDetail,
      transaction: false,
      audit: { action: 'replication.start', target },
      async handler(context) {
        return service().startLink(context.db, context.input.params.name, actor(context.principal));
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/replication/links/:name/stop',
      summary: 'Stop applying changes (they keep being captured)',
      tags,
      access: { role: 'admin', scope: PLATFORM },
      params: LinkParams,
      response: LinkDetail,
      transaction: false,
      audit: { action: 'replication.stop', target },
      async handler(context) {
        return service().stopLink(context.db, context.input.params.name, actor(context.principal));
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/replication/links/:name/verify',
      summary: 'Compare both sides by row counts and chunked checksums at one consistent point',
      tags,
      access: { role: 'admin', scope: PLATFORM },
      params: LinkParams,
      body: VerifyBody,
      response: VerifyResult,
      transaction: false,
      successStatus: 200,
      audit: { action: 'replication.verify', target },
      async handler(context) {
        const result = await service().verify(
          context.db,
          context.input.params.name,
          context.input.body ?? {},
        );
        context.audit.details = { identical: result.identical };
        return result as z.infer<typeof VerifyResult>;
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/replication/links/:name/resync',
      summary: 'Copy one table again while the others keep replicating',
      tags,
      access: { role: 'admin', scope: PLATFORM },
      params: LinkParams,
      body: ResyncBody,
      response: LinkDetail,
      transaction: false,
      successStatus: 200,
      audit: { action: 'replication.resync', target },
      async handler(context) {
        context.audit.details = { table: context.input.body.table };
        return service().resync(
          context.db,
          context.input.params.name,
          context.input.body.table,
          actor(context.principal),
        );
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/replication/links/:name/promote',
      summary: 'Fail over: make the replica writable, move its sequences past the values in use',
      tags,
      access: { role: 'admin', scope: PLATFORM },
      params: LinkParams,
      response: PromoteResult,
      transaction: false,
      successStatus: 200,
      audit: { action: 'replication.promote', target },
      async handler(context) {
        return service().promote(context.db, context.input.params.name, actor(context.principal));
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/replication/links/:name/ddl',
      summary: 'Apply a schema change on both sides at a consistent point',
      tags,
      access: { role: 'admin', scope: PLATFORM },
      params: LinkParams,
      body: DdlBody,
      response: DdlResult,
      transaction: false,
      successStatus: 200,
      audit: { action: 'replication.ddl', target },
      async handler(context) {
        const { script, targetOnly } = context.input.body;
        context.audit.details = { bytes: Buffer.byteLength(script), targetOnly };
        return service().ddl(
          context.db,
          context.input.params.name,
          script,
          { targetOnly },
          actor(context.principal),
        );
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/replication/links/:name/reverse',
      summary: 'After a failover, replicate the other way: the promoted replica becomes the source',
      tags,
      access: { role: 'admin', scope: PLATFORM },
      params: LinkParams,
      response: LinkDetail,
      transaction: false,
      successStatus: 200,
      audit: { action: 'replication.reverse', target },
      async handler(context) {
        return service().reverse(context.db, context.input.params.name, actor(context.principal));
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/replication/links/:name',
      summary: 'Drop a link: remove its triggers and schemas from both databases',
      tags,
      access: { role: 'admin', scope: PLATFORM },
      params: LinkParams,
      query: DropQuery,
      response: z.object({ name: z.string(), leftBehind: z.array(z.enum(['source', 'target'])) }),
      transaction: false,
      audit: { action: 'replication.drop', target },
      async handler(context) {
        return service().drop(context.db, context.input.params.name, {
          force: context.input.query.force ?? false,
        });
      },
    }),
  ];
}
