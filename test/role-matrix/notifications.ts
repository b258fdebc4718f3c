import type { MatrixModule } from './types.ts';

/** Notification channels: platform administrators only. */
export const notificationsMatrix: MatrixModule = {
  covers: [
    'GET /api/notification-channels',
    'POST /api/notification-channels',
    'DELETE /api/notification-channels/:name',
    'POST /api/notification-channels/:name/test',
  ],
  cases: ({ admin }) => {
    const email = (name: string) => ({
      kind: 'email',
      name,
      smtp: { host: '127.0.0.1', port: 2525, from: 'slipway@example.test' },
    });
    return [
      {
        name: 'list channels',
        needs: { role: 'admin', scope: 'platform' },
        request: async () => ({ method: 'GET', path: '/api/notification-channels' }),
      },
      {
        name: 'add a channel',
        needs: { role: 'admin', scope: 'platform' },
        request: async (n) => ({
          method: 'POST',
          path: '/api/notification-channels',
          body: email(`mail-${n}`),
        }),
      },
      {
        name: 'remove a channel',
        needs: { role: 'admin', scope: 'platform' },
        request: async (n) => {
          await admin('POST', '/api/notification-channels', email(`gone-${n}`));
          return { method: 'DELETE', path: `/api/notification-channels/gone-${n}` };
        },
      },
      {
        name: 'test a channel',
        needs: { role: 'admin', scope: 'platform' },
        request: async (n) => {
          await admin('POST', '/api/notification-channels', email(`probe-${n}`));
          return { method: 'POST', path: `/api/notification-channels/probe-${n}/test` };
        },
      },
    ];
  },
};
