import { createServer, type Server } from 'node:net';
import type { MatrixContext, MatrixModule } from './types.ts';

const COMMIT = 'c0ffee0000000000000000000000000000000000';

/**
 * Apps and runs: reading is for viewers of the platform; registering and changing apps, starting,
 * cancelling and re-running runs for developers; deleting an app for administrators. Webhooks are
 * public (their signature is the credential) and are tested in test/pipelines-webhooks.test.ts.
 */
export const pipelinesMatrix: MatrixModule = {
  covers: [
    'GET /api/apps',
    'POST /api/apps',
    'GET /api/apps/:app',
    'PATCH /api/apps/:app',
    'DELETE /api/apps/:app',
    'POST /api/apps/:app/webhook-secret',
    'POST /api/apps/:app/hook',
    'GET /api/runs',
    'POST /api/apps/:app/runs',
    'GET /api/apps/:app/runs/:number',
    'POST /api/apps/:app/runs/:number/cancel',
    'POST /api/apps/:app/runs/:number/rerun',
    'GET /api/apps/:app/runs/:number/logs',
  ],
  cases: (context) => {
    const apps = prepare(context);
    return [
      {
        name: 'list apps',
        needs: { role: 'viewer', scope: 'platform' },
        request: async () => ({ method: 'GET', path: '/api/apps' }),
      },
      {
        name: 'register an app',
        needs: { role: 'developer', scope: 'platform' },
        request: async (n) => ({
          method: 'POST',
          path: '/api/apps',
          body: { name: `made-app-${n}`, repository: '/nonexistent/repository.git' },
        }),
      },
      {
        name: 'show an app',
        needs: { role: 'viewer', scope: 'platform' },
        request: async () => {
          await apps();
          return { method: 'GET', path: '/api/apps/matrix-fails' };
        },
      },
      {
        name: "change an app's settings",
        needs: { role: 'developer', scope: 'platform' },
        request: async () => {
          await apps();
          return { method: 'PATCH', path: '/api/apps/matrix-fails', body: { retentionKeep: 10 } };
        },
      },
      {
        name: 'delete an app',
        needs: { role: 'admin', scope: 'platform' },
        request: async (n) => {
          await context.admin('POST', '/api/apps', {
            name: `doomed-${n}`,
            repository: '/nonexistent/repository.git',
          });
          return { method: 'DELETE', path: `/api/apps/doomed-${n}` };
        },
      },
      {
        name: 'rotate the webhook secret',
        needs: { role: 'developer', scope: 'platform' },
        request: async () => {
          await apps();
          return { method: 'POST', path: '/api/apps/matrix-fails/webhook-secret' };
        },
      },
      {
        name: "make the post-receive hook's secret",
        needs: { role: 'developer', scope: 'platform' },
        request: async () => {
          await apps();
          return { method: 'POST', path: '/api/apps/matrix-fails/hook' };
        },
      },
      {
        name: 'list runs',
        needs: { role: 'viewer', scope: 'platform' },
        request: async () => ({ method: 'GET', path: '/api/runs' }),
      },
      {
        name: 'start a run',
        needs: { role: 'developer', scope: 'platform' },
        request: async () => {
          await apps();
          return { method: 'POST', path: '/api/apps/matrix-fails/runs', body: { commit: COMMIT } };
        },
      },
      {
        name: 'show a run',
        needs: { role: 'viewer', scope: 'platform' },
        request: async () => ({
          method: 'GET',
          path: `/api/apps/matrix-fails/runs/${(await apps()).firstRun}`,
        }),
      },
      {
        name: "read a run's log",
        needs: { role: 'viewer', scope: 'platform' },
        request: async () => ({
          method: 'GET',
          path: `/api/apps/matrix-fails/runs/${(await apps()).firstRun}/logs`,
        }),
      },
      {
        name: 'cancel a run',
        needs: { role: 'developer', scope: 'platform' },
        request: async () => {
          await apps();
          // matrix-waits runs one at a time and its first run never gets past checkout: this one waits.
          const started = await context.admin('POST', '/api/apps/matrix-waits/runs', { commit: COMMIT });
          return { method: 'POST', path: `/api/apps/matrix-waits/runs/${started.json().run.number}/cancel` };
        },
      },
      {
        name: 're-run a run',
        needs: { role: 'developer', scope: 'platform' },
        request: async () => ({
          method: 'POST',
          path: `/api/apps/matrix-fails/runs/${(await apps()).firstRun}/rerun`,
        }),
      },
    ];
  },
};

/**
 * Two apps: "matrix-fails", whose repository does not exist (its runs fail at checkout), and
 * "matrix-waits", whose repository is a git:// server that never answers, so its first run stays in
 * checkout and the ones after it wait in the queue.
 */
function prepare(context: MatrixContext) {
  let made: Promise<{ firstRun: number }> | undefined;
  let silent: Server | undefined;
  return () => {
    made ??= (async () => {
      silent = createServer(() => undefined).unref();
      await new Promise<void>((resolve) => silent!.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as { port: number }).port;
      for (const [name, repository] of [
        ['matrix-fails', '/nonexistent/repository.git'],
        ['matrix-waits', `git://127.0.0.1:${port}/never.git`],
      ] as const) {
        const created = await context.admin('POST', '/api/apps', { name, repository });
        if (created.statusCode !== 201) throw new Error(`creating ${name} failed: ${created.body}`);
      }
      const first = await context.admin('POST', '/api/apps/matrix-fails/runs', { commit: COMMIT });
      await context.admin('POST', '/api/apps/matrix-waits/runs', { commit: COMMIT });
      return { firstRun: first.json().run.number as number };
    })();
    return made;
  };
}
