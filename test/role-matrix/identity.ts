import type { MatrixModule } from './types.ts';

const PASSWORD = 'a-long-password-1';

/** Users, groups, role bindings, audit and status. */
export const identityMatrix: MatrixModule = {
  covers: [
    'GET /api/users',
    'GET /api/users/:username',
    'POST /api/users',
    'POST /api/users/:username/disable',
    'POST /api/users/:username/enable',
    'POST /api/users/:username/password',
    'GET /api/groups',
    'GET /api/groups/:name',
    'POST /api/groups',
    'DELETE /api/groups/:name',
    'POST /api/groups/:name/members',
    'DELETE /api/groups/:name/members/:username',
    'GET /api/role-bindings',
    'POST /api/role-bindings',
    'POST /api/role-bindings/revoke',
    'GET /api/audit',
    'GET /api/audit/verify',
    'GET /api/status',
  ],
  cases: ({ admin }) => [
    {
      name: 'list users',
      needs: { role: 'viewer', scope: 'platform' },
      request: async () => ({ method: 'GET', path: '/api/users' }),
    },
    {
      name: 'show user',
      needs: { role: 'viewer', scope: 'platform' },
      request: async () => ({ method: 'GET', path: '/api/users/admin' }),
    },
    {
      name: 'create user',
      needs: { role: 'admin', scope: 'platform' },
      request: async (n) => ({
        method: 'POST',
        path: '/api/users',
        body: { username: `made-${n}`, password: PASSWORD },
      }),
    },
    {
      name: 'disable user',
      needs: { role: 'admin', scope: 'platform' },
      request: async (n) => {
        await admin('POST', '/api/users', { username: `victim-${n}`, password: PASSWORD });
        return { method: 'POST', path: `/api/users/victim-${n}/disable` };
      },
    },
    {
      name: 'enable user',
      needs: { role: 'admin', scope: 'platform' },
      request: async (n) => {
        await admin('POST', '/api/users', { username: `sleeper-${n}`, password: PASSWORD });
        await admin('POST', `/api/users/sleeper-${n}/disable`);
        return { method: 'POST', path: `/api/users/sleeper-${n}/enable` };
      },
    },
    {
      name: 'set password',
      needs: { role: 'admin', scope: 'platform' },
      request: async (n) => {
        await admin('POST', '/api/users', { username: `pw-${n}`, password: PASSWORD });
        return {
          method: 'POST',
          path: `/api/users/pw-${n}/password`,
          body: { password: 'another-password-2' },
        };
      },
    },
    {
      name: 'list groups',
      needs: { role: 'viewer', scope: 'platform' },
      request: async () => ({ method: 'GET', path: '/api/groups' }),
    },
    {
      name: 'show group',
      needs: { role: 'viewer', scope: 'platform' },
      request: async (n) => {
        await admin('POST', '/api/groups', { name: `shown-${n}` });
        return { method: 'GET', path: `/api/groups/shown-${n}` };
      },
    },
    {
      name: 'create group',
      needs: { role: 'admin', scope: 'platform' },
      request: async (n) => ({ method: 'POST', path: '/api/groups', body: { name: `group-${n}` } }),
    },
    {
      name: 'delete group',
      needs: { role: 'admin', scope: 'platform' },
      request: async (n) => {
        await admin('POST', '/api/groups', { name: `doomed-${n}` });
        return { method: 'DELETE', path: `/api/groups/doomed-${n}` };
      },
    },
    {
      name: 'add group member',
      needs: { role: 'admin', scope: 'platform' },
      request: async (n) => {
        await admin('POST', '/api/groups', { name: `team-${n}` });
        return { method: 'POST', path: `/api/groups/team-${n}/members`, body: { username: 'admin' } };
      },
    },
    {
      name: 'remove group member',
      needs: { role: 'admin', scope: 'platform' },
      request: async (n) => {
        await admin('POST', '/api/groups', { name: `crew-${n}` });
        await admin('POST', `/api/groups/crew-${n}/members`, { username: 'admin' });
        return { method: 'DELETE', path: `/api/groups/crew-${n}/members/admin` };
      },
    },
    {
      name: 'list platform bindings',
      needs: { role: 'viewer', scope: 'platform' },
      request: async () => ({ method: 'GET', path: '/api/role-bindings' }),
    },
    {
      name: 'list staging bindings',
      needs: { role: 'viewer', scope: 'environment:staging' },
      request: async () => ({ method: 'GET', path: '/api/role-bindings?scope=environment:staging' }),
    },
    {
      name: 'grant on the platform',
      needs: { role: 'admin', scope: 'platform' },
      request: async (n) => {
        await admin('POST', '/api/users', { username: `grantee-${n}`, password: PASSWORD });
        return {
          method: 'POST',
          path: '/api/role-bindings',
          body: { subject: `user:grantee-${n}`, role: 'viewer', scope: 'platform' },
        };
      },
    },
    {
      name: 'grant on staging',
      needs: { role: 'admin', scope: 'environment:staging' },
      request: async (n) => {
        await admin('POST', '/api/users', { username: `sgrantee-${n}`, password: PASSWORD });
        return {
          method: 'POST',
          path: '/api/role-bindings',
          body: { subject: `user:sgrantee-${n}`, role: 'deployer', scope: 'environment:staging' },
        };
      },
    },
    {
      name: 'revoke on production',
      needs: { role: 'admin', scope: 'environment:production' },
      request: async (n) => {
        await admin('POST', '/api/users', { username: `pgrantee-${n}`, password: PASSWORD });
        await admin('POST', '/api/role-bindings', {
          subject: `user:pgrantee-${n}`,
          role: 'viewer',
          scope: 'environment:production',
        });
        return {
          method: 'POST',
          path: '/api/role-bindings/revoke',
          body: { subject: `user:pgrantee-${n}`, role: 'viewer', scope: 'environment:production' },
        };
      },
    },
    {
      name: 'read audit',
      needs: { role: 'admin', scope: 'platform' },
      request: async () => ({ method: 'GET', path: '/api/audit' }),
    },
    {
      name: 'verify audit',
      needs: { role: 'admin', scope: 'platform' },
      request: async () => ({ method: 'GET', path: '/api/audit/verify' }),
    },
    {
      name: 'status',
      needs: { role: 'viewer', scope: 'platform' },
      request: async () => ({ method: 'GET', path: '/api/status' }),
    },
  ],
};
