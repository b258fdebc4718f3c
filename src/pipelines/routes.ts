import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { type AnyRoute, defineRoute, PLATFORM, type RouteContext } from '../core/index.ts';
import {
  createApp,
  deleteApp,
  getApp,
  issueHookSecret,
  listApps,
  rotateWebhookSecret,
  toApp,
  updateApp,
} from './apps.ts';
import { WebhookSignatureError } from './errors.ts';
import { readLogs } from './run-log.ts';
import { findRun, listRuns, runIdOf } from './runs.ts';
import {
  App,
  AppName,
  AppSettingsChange,
  CommitId,
  CreateAppBody,
  LogChunk,
  RUN_STATES,
  Run,
} from './schema.ts';
import type { PipelinesService, RunEvent } from './service.ts';
import { detectWebhookSource, parseWebhookEvent, verifyWebhook } from './webhooks.ts';

/** What the pipeline routes need. */
export interface PipelineRouteOptions {
  readonly service: PipelinesService;
  /** The URL webhooks reach this server at; else the request's own origin. */
  readonly publicUrl?: string;
}

const AppParams = z.strictObject({ app: AppName });
const RunParams = z.strictObject({ app: AppName, number: z.coerce.number().int().min(1) });
const QueuedRun = z.object({
  outcome: z.enum(['queued', 'superseded', 'duplicate']),
  run: Run,
  message: z.string(),
});
/** Webhooks carry a push's whole payload; GitHub caps them at 25 MB. */
const WEBHOOK_BODY_LIMIT = 25 * 1024 * 1024;

function origin(reply: FastifyReply, publicUrl: string | undefined): string {
  return (publicUrl ?? `${reply.request.protocol}://${reply.request.host}`).replace(/\/+$/, '');
}

function actorOf(context: RouteContext<unknown>): string | undefined {
  return context.principal?.username;
}

function describeOutcome(outcome: string, run: { app: string; number: number; commit: string }): string {
  const handle = `${run.app}/${run.number}`;
  if (outcome === 'duplicate')
    return `Commit ${run.commit.slice(0, 12)} was already built or queued as run ${handle}`;
  if (outcome === 'superseded')
    return `Run ${handle}, still waiting, now builds the newer commit ${run.commit.slice(0, 12)}`;
  return `Run ${handle} queued for ${run.commit.slice(0, 12)}`;
}

/** Server-sent events: one `event:` and `data:` per RunEvent, the log's sequence as the event id. */
async function streamEvents(reply: FastifyReply, events: AsyncGenerator<RunEvent>, abort: AbortController) {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': String(reply.request.id),
    'x-content-type-options': 'nosniff',
  });
  raw.on('close', () => abort.abort());
  const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), 15_000);
  try {
    for await (const event of events) {
      const data = event.type === 'log' ? event.chunk : event.run;
      const id = event.type === 'log' ? `id: ${event.chunk.seq}\n` : '';
      raw.write(`${id}event: ${event.type}\ndata: ${JSON.stringify(data)}\n\n`);
      if (abort.signal.aborted) break;
    }
  } catch (error) {
    raw.write(`event: error\ndata: ${JSON.stringify({ message: (error as Error).message })}\n\n`);
  } finally {
    clearInterval(keepAlive);
    raw.end();
  }
}

/** The pipelines module's HTTP routes: apps, webhooks, runs and their live logs. */
export function pipelineRoutes(options: PipelineRouteOptions): AnyRoute[] {
  const { service } = options;
  const viewer = { role: 'viewer' as const, scope: PLATFORM };
  const developer = { role: 'developer' as const, scope: PLATFORM };
  return [
    // ---- Apps ---------------------------------------------------------------------------------
    defineRoute({
      method: 'GET',
      path: '/api/apps',
      summary: 'List registered apps',
      tags: ['pipelines'],
      access: viewer,
      response: z.array(App),
      async handler({ db, reply }) {
        const base = origin(reply, options.publicUrl);
        return (await listApps(db)).map((row) => toApp(row, base));
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/apps',
      summary:
        'Register an app: its repository, tracked branch and build settings; returns its webhook secret once',
      tags: ['pipelines'],
      access: developer,
      body: CreateAppBody,
      response: z.object({ app: App, webhookSecret: z.string() }),
      audit: { action: 'apps.create', target: ({ body }) => `app:${body.name}` },
      async handler(context) {
        const { body } = context.input;
        const { row, webhookSecret } = await createApp(context.db, body, {
          secrets: service.secrets,
          actor: actorOf(context),
        });
        context.audit.details = { repository: body.repository, branch: body.branch, network: body.network };
        return { app: toApp(row, origin(context.reply, options.publicUrl)), webhookSecret };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/apps/:app',
      summary: 'Show an app',
      tags: ['pipelines'],
      access: viewer,
      params: AppParams,
      response: App,
      async handler({ db, input, reply }) {
        return toApp(await getApp(db, input.params.app), origin(reply, options.publicUrl));
      },
    }),
    defineRoute({
      method: 'PATCH',
      path: '/api/apps/:app',
      summary: "Change an app's branch, path, network policy, concurrency, polling or retention",
      tags: ['pipelines'],
      access: developer,
      params: AppParams,
      body: AppSettingsChange,
      response: App,
      audit: { action: 'apps.update', target: ({ params }) => `app:${params.app}` },
      async handler(context) {
        const settings = context.input.body;
        context.audit.details = settings;
        return toApp(
          await updateApp(context.db, context.input.params.app, settings),
          origin(context.reply, options.publicUrl),
        );
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/apps/:app',
      summary: 'Delete an app with its runs (its artifacts stay in the repository)',
      tags: ['pipelines'],
      access: { role: 'admin', scope: PLATFORM },
      params: AppParams,
      response: App,
      audit: { action: 'apps.delete', target: ({ params }) => `app:${params.app}` },
      async handler(context) {
        return toApp(
          await deleteApp(context.db, context.input.params.app),
          origin(context.reply, options.publicUrl),
        );
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/apps/:app/webhook-secret',
      summary: "Replace an app's webhook secret (the old one stops working); returns the new one once",
      tags: ['pipelines'],
      access: developer,
      params: AppParams,
      response: z.object({ webhookSecret: z.string(), webhookUrl: z.string() }),
      successStatus: 200,
      audit: { action: 'apps.rotate-webhook-secret', target: ({ params }) => `app:${params.app}` },
      async handler(context) {
        const { app } = context.input.params;
        const webhookSecret = await rotateWebhookSecret(context.db, app, service.secrets);
        return {
          webhookSecret,
          webhookUrl: `${origin(context.reply, options.publicUrl)}/api/webhooks/${app}`,
        };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/apps/:app/hook',
      summary:
        "Make a new secret for the app's post-receive hook (used by `slipway apps hook install`); an older hook stops working",
      tags: ['pipelines'],
      access: developer,
      params: AppParams,
      response: z.object({ hookSecret: z.string(), webhookUrl: z.string() }),
      successStatus: 200,
      audit: { action: 'apps.hook-secret', target: ({ params }) => `app:${params.app}` },
      async handler(context) {
        const { app } = context.input.params;
        const hookSecret = await issueHookSecret(context.db, app, service.secrets);
        return { hookSecret, webhookUrl: `${origin(context.reply, options.publicUrl)}/api/webhooks/${app}` };
      },
    }),

    // ---- Webhooks -----------------------------------------------------------------------------
    defineRoute({
      method: 'POST',
      path: '/api/webhooks/:app',
      summary:
        'Push webhook of GitHub (X-Hub-Signature-256), GitLab (X-Gitlab-Token), Gitea/Forgejo (X-Gitea-Signature) or the post-receive hook (X-Slipway-Signature); a push to the tracked branch starts a run',
      tags: ['pipelines'],
      // Public: the signature over the exact body, checked against the app's secret, is the credential.
      access: 'public',
      params: z.object({ app: z.string().max(100) }),
      rawBody: 'buffer',
      bodyLimit: WEBHOOK_BODY_LIMIT,
      transaction: false,
      response: z.object({ accepted: z.boolean(), message: z.string(), runs: z.array(z.string()) }),
      successStatus: 202,
      audit: {
        action: 'pipelines.webhook',
        target: ({ params }) => `app:${String(params.app).slice(0, 100)}`,
      },
      async handler(context) {
        const headers = context.reply.request.headers;
        const source = detectWebhookSource(headers);
        context.audit.actor = `webhook:${source ?? 'unknown'}`;
        if (!source) throw new WebhookSignatureError('no signature header');
        // Sealed, every app answers 503 alike (before the lookup, so the answer reveals no app name).
        service.secrets.requireAvailable('check the webhook signature');
        // An unknown app gets the same answer as a bad signature: webhooks do not reveal app names.
        const app = AppName.safeParse(context.input.params.app).success
          ? await service.findApp(context.input.params.app)
          : undefined;
        if (!app) throw new WebhookSignatureError('unknown app');
        const keys = await service.secrets.keys(app, 'check the webhook signature');
        verifyWebhook(source, headers, context.rawBody ?? Buffer.alloc(0), keys);
        const event = parseWebhookEvent(source, headers, context.rawBody ?? Buffer.alloc(0));
        if (event.kind === 'ignored') {
          context.audit.details = { source, ignored: event.reason };
          return { accepted: false, message: `Nothing to build: ${event.reason}`, runs: [] };
        }
        const tracked = `refs/heads/${app.branch}`;
        const update = event.updates.find((u) => u.ref === tracked && !u.deleted);
        if (!update) {
          const refs = event.updates.map((u) => u.ref).join(', ');
          context.audit.details = { source, ignored: `push to ${refs}` };
          return {
            accepted: false,
            message: `Nothing to build: the push was to ${refs}, and app "${app.name}" tracks ${app.branch}`,
            runs: [],
          };
        }
        const result = await service.trigger({
          app: app.name,
          commit: update.commit,
          branch: app.branch,
          trigger: source,
          ...(event.pusher ? { triggeredBy: event.pusher } : {}),
        });
        const message = describeOutcome(result.outcome, result.run);
        context.audit.details = {
          source,
          commit: update.commit,
          outcome: result.outcome,
          run: result.run.number,
        };
        return {
          accepted: result.outcome !== 'duplicate',
          message,
          runs: [`${app.name}/${result.run.number}`],
        };
      },
    }),

    // ---- Runs ---------------------------------------------------------------------------------
    defineRoute({
      method: 'GET',
      path: '/api/runs',
      summary: 'List runs, newest first',
      tags: ['pipelines'],
      access: viewer,
      query: z.strictObject({
        app: AppName.optional(),
        state: z.enum(RUN_STATES).optional(),
        limit: z.coerce.number().int().min(1).max(500).default(50),
      }),
      response: z.array(Run),
      async handler({ db, input }) {
        return listRuns(db, input.query);
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/apps/:app/runs',
      summary: "Start a run of the tracked branch's head (or of a given commit)",
      tags: ['pipelines'],
      access: developer,
      params: AppParams,
      body: z.strictObject({ commit: CommitId.optional() }).default({}),
      response: QueuedRun,
      transaction: false,
      audit: { action: 'runs.start', target: ({ params }) => `app:${params.app}` },
      async handler(context) {
        const { app } = context.input.params;
        const result = await service.startManually(app, {
          ...(context.input.body.commit ? { commit: context.input.body.commit } : {}),
          ...(context.principal ? { actor: context.principal.username } : {}),
        });
        context.audit.target = `run:${app}/${result.run.number}`;
        context.audit.details = { commit: result.run.commit };
        return {
          outcome: result.outcome,
          run: await findRun(context.db, app, result.run.number),
          message: describeOutcome(result.outcome, result.run),
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/apps/:app/runs/:number',
      summary: 'Show a run with its steps',
      tags: ['pipelines'],
      access: viewer,
      params: RunParams,
      response: Run,
      async handler({ db, input }) {
        return findRun(db, input.params.app, input.params.number);
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/apps/:app/runs/:number/cancel',
      summary: 'Cancel a queued or running run',
      tags: ['pipelines'],
      access: developer,
      params: RunParams,
      response: Run,
      successStatus: 200,
      audit: { action: 'runs.cancel', target: ({ params }) => `run:${params.app}/${params.number}` },
      async handler(context) {
        return service.cancel(context.db, context.input.params.app, context.input.params.number);
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/apps/:app/runs/:number/rerun',
      summary: "Run a run's commit again, as a new run with a new build number",
      tags: ['pipelines'],
      access: developer,
      params: RunParams,
      response: QueuedRun,
      transaction: false,
      audit: { action: 'runs.rerun', target: ({ params }) => `run:${params.app}/${params.number}` },
      async handler(context) {
        const { app, number } = context.input.params;
        const result = await service.rerun(app, number, context.principal?.username);
        context.audit.details = { run: result.run.number };
        return {
          outcome: result.outcome,
          run: await findRun(context.db, app, result.run.number),
          message: describeOutcome(result.outcome, result.run),
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/apps/:app/runs/:number/logs',
      summary:
        "A run's log: JSON pieces after `after`, or with `follow=true` (or Accept: text/event-stream) server-sent events until the run ends",
      tags: ['pipelines'],
      access: viewer,
      params: RunParams,
      query: z.strictObject({
        after: z.coerce.number().int().min(0).default(0),
        limit: z.coerce.number().int().min(1).max(10_000).default(2000),
        follow: z.enum(['true', 'false']).default('false'),
      }),
      raw: true,
      async handler({ db, input, reply }) {
        const { app, number } = input.params;
        const accept = reply.request.headers.accept ?? '';
        const lastEventId = Number(reply.request.headers['last-event-id']);
        if (input.query.follow === 'true' || accept.includes('text/event-stream')) {
          await runIdOf(db, app, number); // a 404 before the stream starts
          const abort = new AbortController();
          const after = Number.isInteger(lastEventId) && lastEventId > 0 ? lastEventId : input.query.after;
          await streamEvents(reply, service.follow(app, number, { after, signal: abort.signal }), abort);
          return undefined;
        }
        const { id } = await runIdOf(db, app, number);
        const chunks = await readLogs(db, id, { after: input.query.after, limit: input.query.limit });
        reply.code(200).send(z.array(LogChunk).parse(chunks));
        return undefined;
      },
    }),
  ];
}
