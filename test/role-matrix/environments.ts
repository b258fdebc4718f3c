import {
  seedApply,
  seedEnvironment,
  seedHost,
  seedPlan,
  seedSource,
} from '../../src/environments/testing.ts';
import type { MatrixModule } from './types.ts';

/** Environments: show, plans, applies, apply/approve, destroy, the tracked repository, host tokens. */
export const environmentsMatrix: MatrixModule = {
  covers: [
    'GET /api/environments/:name',
    'GET /api/environments/:name/plans',
    'GET /api/environments/:name/plans/:id',
    'POST /api/environments/:name/plans',
    'GET /api/environments/:name/applies',
    'GET /api/environments/:name/applies/:id',
    'POST /api/environments/:name/apply',
    'POST /api/environments/:name/destroy',
    'GET /api/environment-source',
    'PUT /api/environment-source',
    'POST /api/environment-source/check',
    'POST /api/environments/:name/hosts/:host/join-token',
    'POST /api/environments/:name/hosts/:host/revoke',
  ],
  cases: ({ server }) => {
    const db = () => server.server.store.db;
    return [
      {
        name: 'show an environment',
        needs: { role: 'viewer', scope: 'environment:staging' },
        request: async () => {
          await seedEnvironment(db(), 'staging');
          return { method: 'GET', path: '/api/environments/staging' };
        },
      },
      {
        name: 'list plans',
        needs: { role: 'viewer', scope: 'environment:production' },
        request: async () => ({ method: 'GET', path: '/api/environments/production/plans' }),
      },
      {
        name: 'show a plan',
        needs: { role: 'viewer', scope: 'environment:staging' },
        request: async () => ({
          method: 'GET',
          path: `/api/environments/staging/plans/${await seedPlan(db(), 'staging')}`,
        }),
      },
      {
        name: 'plan',
        needs: { role: 'developer', scope: 'environment:staging' },
        request: async () => ({ method: 'POST', path: '/api/environments/staging/plans' }),
      },
      {
        name: 'list applies',
        needs: { role: 'viewer', scope: 'environment:staging' },
        request: async () => ({ method: 'GET', path: '/api/environments/staging/applies' }),
      },
      {
        name: 'show an apply',
        needs: { role: 'viewer', scope: 'environment:production' },
        request: async () => ({
          method: 'GET',
          path: `/api/environments/production/applies/${await seedApply(db(), 'production')}`,
        }),
      },
      {
        name: 'apply (approve) a plan',
        needs: { role: 'admin', scope: 'environment:staging' },
        request: async () => ({
          method: 'POST',
          path: '/api/environments/staging/apply',
          body: { planId: await seedPlan(db(), 'staging') },
        }),
      },
      {
        name: 'destroy',
        needs: { role: 'admin', scope: 'environment:production' },
        request: async () => {
          await seedEnvironment(db(), 'production');
          return {
            method: 'POST',
            path: '/api/environments/production/destroy',
            body: { confirm: 'production' },
          };
        },
      },
      {
        name: 'show the tracked repository',
        needs: { role: 'viewer', scope: 'platform' },
        request: async () => ({ method: 'GET', path: '/api/environment-source' }),
      },
      {
        name: 'track a repository',
        needs: { role: 'admin', scope: 'platform' },
        request: async () => ({
          method: 'PUT',
          path: '/api/environment-source',
          // A repository that does not exist: tracking it is allowed; its checks record the error.
          body: { url: '/nonexistent/slipway-role-matrix-infra', branch: 'main', pollInterval: '1h' },
        }),
      },
      {
        name: 'check the repository now',
        needs: { role: 'deployer', scope: 'platform' },
        request: async () => {
          await seedSource(db());
          return { method: 'POST', path: '/api/environment-source/check' };
        },
      },
      {
        name: 'create a join token',
        needs: { role: 'admin', scope: 'environment:production' },
        request: async () => {
          await seedHost(db(), 'production', 'web-1');
          return { method: 'POST', path: '/api/environments/production/hosts/web-1/join-token' };
        },
      },
      {
        name: 'revoke a host credential',
        needs: { role: 'admin', scope: 'environment:staging' },
        request: async () => {
          await seedHost(db(), 'staging', 'web-1');
          return { method: 'POST', path: '/api/environments/staging/hosts/web-1/revoke' };
        },
      },
    ];
  },
};
