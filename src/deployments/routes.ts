import { z } from 'zod';
import type { ArtifactRepository } from '../artifacts/index.ts';
import {
  type AnyRoute,
  defineRoute,
  environmentScope,
  ForbiddenError,
  PLATFORM,
  type Principal,
  type RouteContext,
} from '../core/index.ts';
import { isAllowed } from '../identity/index.ts';
import { parseSlipwayFile } from '../pipelines/index.ts';
import {
  deploymentEvents,
  getDeployment,
  listDeployments,
  requestDeployment,
  requestRollback,
} from './deployments.ts';
import { layoutFromSlipwayFile } from './release-layout.ts';
import { recordLayout } from './releases.ts';
import { Deployment, DeploymentEvent } from './schema.ts';
import { RolloutStrategy } from './strategy.ts';

const EnvironmentName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'use an environment name, like "staging"');
const AppName = z.string().regex(/^[a-z][a-z0-9-]{1,62}$/, 'use an app name, like "laravel-app"');
const Version = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[0-9][A-Za-z0-9.+~:-]*$/, 'use a Debian version, like "1.0.0~b7+g1a2b3c4"');

function caller(context: RouteContext<unknown>): Principal {
  if (!context.principal) throw new ForbiddenError('Not allowed: sign in first');
  return context.principal;
}

/** The environments a principal may see deployments of (undefined: all of them). */
function visibleEnvironments(principal: Principal): string[] | undefined {
  if (isAllowed(principal, 'viewer', PLATFORM)) return undefined;
  return principal.grants.flatMap((g) => (g.scope.kind === 'environment' ? [g.scope.environment] : []));
}

/** Deploy, roll back, and read deployments. Deploying needs `deployer` on the environment. */
export function deploymentRoutes(options: { artifacts: ArtifactRepository }): AnyRoute[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/api/deployments',
      summary:
        'Deploy a version of an app to an environment (single action; the rollout runs in the background)',
      tags: ['deployments'],
      access: { role: 'deployer', scope: ({ body }) => environmentScope(body.environment) },
      body: z.strictObject({
        environment: EnvironmentName,
        app: AppName,
        version: Version,
        strategy: RolloutStrategy.optional(),
      }),
      response: Deployment,
      transaction: false,
      audit: { action: 'deployments.create', target: ({ body }) => `environment:${body.environment}` },
      async handler(context) {
        const { environment, app, version, strategy } = context.input.body;
        context.audit.details = { app, version, strategy: strategy?.strategy ?? 'default' };
        const deployment = await requestDeployment(context.db, options.artifacts, {
          environment,
          app,
          version,
          ...(strategy ? { strategy } : {}),
          trigger: 'manual',
          requestedBy: caller(context).username,
        });
        context.audit.details = { ...context.audit.details, deployment: deployment.number };
        return deployment;
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/deployments/rollback',
      summary: 'Roll an app on an environment back to the release it ran before',
      tags: ['deployments'],
      access: { role: 'deployer', scope: ({ body }) => environmentScope(body.environment) },
      body: z.strictObject({ environment: EnvironmentName, app: AppName }),
      response: Deployment,
      transaction: false,
      audit: { action: 'deployments.rollback', target: ({ body }) => `environment:${body.environment}` },
      async handler(context) {
        const deployment = await requestRollback(context.db, options.artifacts, {
          ...context.input.body,
          requestedBy: caller(context).username,
        });
        context.audit.details = {
          app: deployment.app,
          version: deployment.version,
          deployment: deployment.number,
        };
        return deployment;
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/deployments',
      summary: 'Deployments of the environments the caller may see, newest first',
      tags: ['deployments'],
      access: 'authenticated',
      query: z.strictObject({
        environment: EnvironmentName.optional(),
        app: AppName.optional(),
        limit: z.coerce.number().int().min(1).max(500).default(50),
      }),
      response: z.array(Deployment),
      async handler(context) {
        const environments = visibleEnvironments(caller(context));
        return listDeployments(context.db, {
          ...context.input.query,
          ...(environments ? { environments } : {}),
        });
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/deployments/:number',
      summary: 'One deployment: its state and progress',
      tags: ['deployments'],
      access: 'authenticated',
      params: z.strictObject({ number: z.coerce.number().int().min(1) }),
      response: Deployment,
      async handler(context) {
        const deployment = await getDeployment(context.db, context.input.params.number);
        context.authorize('viewer', environmentScope(deployment.environment));
        return deployment;
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/deployments/:number/events',
      summary: "A deployment's log, oldest first (after an event id, to follow it)",
      tags: ['deployments'],
      access: 'authenticated',
      params: z.strictObject({ number: z.coerce.number().int().min(1) }),
      query: z.strictObject({ after: z.coerce.number().int().min(0).default(0) }),
      response: z.array(DeploymentEvent.extend({ id: z.number().int() })),
      async handler(context) {
        const deployment = await getDeployment(context.db, context.input.params.number);
        context.authorize('viewer', environmentScope(deployment.environment));
        return deploymentEvents(context.db, deployment.id, context.input.query.after);
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/release-layouts',
      summary:
        'Record how a version of an app runs (its slipway.yaml), for artifacts not built by a Slipway pipeline',
      tags: ['deployments'],
      access: { role: 'developer', scope: PLATFORM },
      body: z.strictObject({
        app: AppName,
        version: Version,
        slipwayYaml: z
          .string()
          .min(1)
          .max(256 * 1024),
      }),
      response: z.object({ app: z.string(), version: z.string(), processTypes: z.array(z.string()) }),
      audit: { action: 'deployments.layout', target: ({ body }) => `app:${body.app}` },
      async handler(context) {
        const { app, version, slipwayYaml } = context.input.body;
        const layout = layoutFromSlipwayFile(parseSlipwayFile(slipwayYaml));
        await recordLayout(context.db, app, version, layout);
        return { app, version, processTypes: Object.keys(layout.processTypes) };
      },
    }),
  ];
}
