import { readFileSync } from 'node:fs';
import type { MatrixModule } from './types.ts';

const SLIPWAY_YAML = readFileSync(
  new URL('../../examples/laravel-app/slipway.yaml', import.meta.url),
  'utf8',
);

/** Deploying needs deployer on the environment; recording a layout needs developer. */
export const deploymentsMatrix: MatrixModule = {
  covers: ['POST /api/deployments', 'POST /api/deployments/rollback', 'POST /api/release-layouts'],
  cases: () => [
    {
      name: 'deploy to staging',
      needs: { role: 'deployer', scope: 'environment:staging' },
      // past the role check: the environment is not applied (404), or runs no service of the app (400)
      allowedStatus: [400, 404],
      request: async () => ({
        method: 'POST',
        path: '/api/deployments',
        body: { environment: 'staging', app: 'laravel-app', version: '1.0.0~b1+g0000000' },
      }),
    },
    {
      name: 'roll back production',
      needs: { role: 'deployer', scope: 'environment:production' },
      allowedStatus: [400, 404],
      request: async () => ({
        method: 'POST',
        path: '/api/deployments/rollback',
        body: { environment: 'production', app: 'laravel-app' },
      }),
    },
    {
      name: 'record a layout',
      needs: { role: 'developer', scope: 'platform' },
      request: async (n) => ({
        method: 'POST',
        path: '/api/release-layouts',
        body: { app: 'laravel-app', version: `1.0.0~b${n}+g0000000`, slipwayYaml: SLIPWAY_YAML },
      }),
    },
  ],
};
