/**
 * The environments API: list and show environments, plan, apply (or approve a waiting plan),
 * destroy, the apply history, the tracked repository, and host join tokens. Applying, approving and
 * destroying need the `admin` role on that environment; planning needs `developer`; reading `viewer`.
 */
import type { Kysely } from 'kysely';
import { z } from 'zod';
import {
  type AnyRoute,
  type Clock,
  defineRoute,
  environmentScope,
  NotFoundError,
  PLATFORM,
  parseDuration,
} from '../core/index.ts';
import { isAllowed } from '../identity/index.ts';
import type { SecretVault } from '../secrets/index.ts';
import { agentRoutes } from './agent-routes.ts';
import { findApply, listApplies, queueApply } from './applies.ts';
import { EnvironmentNotFoundError, NoSourceError, PlanNotApplicableError } from './errors.ts';
import { findHost, issueJoinToken, JOIN_TOKEN_TTL_MS, revokeHostCredential } from './hosts.ts';
import {
  APPLICABLE,
  completePlan,
  findPlan,
  listPlans,
  PlanStatus,
  requestPlan,
  waitingPlan,
} from './plans.ts';
import {
  Apply,
  EnvironmentSummary,
  type EnvironmentsTables,
  EnvironmentView,
  Plan,
  Source,
} from './schema.ts';
import { getSource, isLocalPath, requestSourceCheck, setSource } from './source.ts';
import { environmentSummaries, environmentView } from './status.ts';

type Db = Kysely<EnvironmentsTables>;

const EnvironmentName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,30}$/, 'use a-z, 0-9 and "-", starting with a letter');
const HostName = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'use a-z, 0-9 and "-"');
const NameParams = z.strictObject({ name: EnvironmentName });
const scopeOf = (input: { params: { name: string } }) => environmentScope(input.params.name);

async function requireEnvironment(db: Db, name: string): Promise<void> {
  const row = await db.selectFrom('environments').select('name').where('name', '=', name).executeTakeFirst();
  if (!row) throw new EnvironmentNotFoundError(name);
}

/** Options of the environments routes. */
export interface EnvironmentRouteOptions {
  readonly clock: Clock;
  /** Resolves the vault secrets of the documents agents receive. */
  readonly secretVault?: SecretVault;
  /** Aborted when the server shuts down (agents' long polls end at once). */
  readonly shutdown?: AbortSignal;
}

/** Every route of the environments module (users' and agents'). */
export function environmentsRoutes(options: EnvironmentRouteOptions): AnyRoute[] {
  const { clock } = options;
  return [
    ...agentRoutes({
      clock,
      ...(options.secretVault ? { secretVault: options.secretVault } : {}),
      ...(options.shutdown ? { shutdown: options.shutdown } : {}),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/environments',
      summary: 'List the environments the caller may see',
      tags: ['environments'],
      access: 'authenticated',
      response: z.array(EnvironmentSummary),
      handler: async ({ db, principal }) =>
        (await environmentSummaries(db as Db, clock.now())).filter((e) =>
          isAllowed(principal, 'viewer', environmentScope(e.name)),
        ),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/environments/:name',
      summary: 'Show an environment: hosts, services, processes, health, the last plan and apply',
      tags: ['environments'],
      access: { role: 'viewer', scope: scopeOf },
      params: NameParams,
      response: EnvironmentView,
      handler: async ({ db, input, principal }) => {
        const view = await environmentView(db as Db, input.params.name, clock.now(), {
          canApply: isAllowed(principal, 'admin', environmentScope(input.params.name)),
        });
        if (!view) throw new EnvironmentNotFoundError(input.params.name);
        return view;
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/environments/:name/plans',
      summary: "An environment's plans, newest first",
      tags: ['environments'],
      access: { role: 'viewer', scope: scopeOf },
      params: NameParams,
      response: z.array(Plan),
      handler: async ({ db, input }) => listPlans(db as Db, input.params.name),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/environments/:name/plans/:id',
      summary: 'One plan',
      tags: ['environments'],
      access: { role: 'viewer', scope: scopeOf },
      params: z.strictObject({ name: EnvironmentName, id: z.uuid() }),
      response: Plan,
      handler: async ({ db, input }) => {
        const plan = await findPlan(db as Db, input.params.name, input.params.id);
        if (!plan)
          throw new NotFoundError(`Cannot find plan "${input.params.id}" of "${input.params.name}"`, {
            hint: `Run \`slipway env plans ${input.params.name}\``,
          });
        return plan;
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/environments/:name/plans',
      summary: 'Plan the environment from the head of the tracked branch (evaluated in the background)',
      tags: ['environments'],
      access: { role: 'developer', scope: scopeOf },
      params: NameParams,
      successStatus: 202,
      response: Plan,
      audit: { action: 'environments.plan', target: (input) => `environment:${input.params.name}` },
      handler: async ({ db, input, principal, audit }) => {
        const plan = await requestPlan(db as Db, {
          environment: input.params.name,
          kind: 'apply',
          trigger: 'api',
          createdBy: principal!.username,
        });
        audit.details = { planId: plan.id };
        return plan;
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/environments/:name/applies',
      summary: "An environment's apply history, newest first (with the repository commit of each)",
      tags: ['environments'],
      access: { role: 'viewer', scope: scopeOf },
      params: NameParams,
      response: z.array(Apply),
      handler: async ({ db, input }) => listApplies(db as Db, input.params.name),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/environments/:name/applies/:id',
      summary: 'One apply, with its steps',
      tags: ['environments'],
      access: { role: 'viewer', scope: scopeOf },
      params: z.strictObject({ name: EnvironmentName, id: z.uuid() }),
      response: Apply,
      handler: async ({ db, input }) => {
        const apply = await findApply(db as Db, input.params.name, input.params.id);
        if (!apply)
          throw new NotFoundError(`Cannot find apply "${input.params.id}" of "${input.params.name}"`, {
            hint: `Run \`slipway env history ${input.params.name}\``,
          });
        return apply;
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/environments/:name/apply',
      summary: 'Apply a plan (approve a waiting one), or plan the head of the branch and apply it',
      tags: ['environments'],
      access: { role: 'admin', scope: scopeOf },
      params: NameParams,
      body: z.strictObject({ planId: z.uuid().optional() }).default({}),
      successStatus: 202,
      response: Apply,
      audit: { action: 'environments.apply', target: (input) => `environment:${input.params.name}` },
      handler: async ({ db, input, principal, audit }) => {
        const name = input.params.name;
        let plan: Plan;
        if (input.body.planId) {
          const found = await findPlan(db as Db, name, input.body.planId);
          if (!found)
            throw new NotFoundError(`Cannot find plan "${input.body.planId}" of "${name}"`, {
              hint: `Run \`slipway env show ${name}\` to see its waiting plan`,
            });
          if (!APPLICABLE.includes(found.status)) {
            const newer = await waitingPlan(db as Db, name);
            throw new PlanNotApplicableError(
              `Cannot apply plan "${found.id}" of "${name}": it is ${found.status}`,
              found.status === PlanStatus.Superseded && newer
                ? `A newer plan waits: approve it with \`slipway env approve ${name} --plan ${newer.id}\``
                : `Plan again with \`slipway env plan ${name}\`, or apply the head of the branch with \`slipway env apply ${name}\``,
            );
          }
          plan = found;
        } else {
          if (!(await getSource(db as Db))) throw new NoSourceError();
          plan = await requestPlan(db as Db, {
            environment: name,
            kind: 'apply',
            trigger: 'api',
            createdBy: principal!.username,
          });
        }
        const apply = await queueApply(db as Db, plan, principal!.username);
        audit.details = { planId: plan.id, applyId: apply.id, commit: plan.commit };
        return apply;
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/environments/:name/destroy',
      summary:
        'Destroy an environment: every host, process, port and directory, the load balancer and the database',
      tags: ['environments'],
      access: { role: 'admin', scope: scopeOf },
      params: NameParams,
      body: z.strictObject({ confirm: z.string() }),
      successStatus: 202,
      response: Apply,
      audit: { action: 'environments.destroy', target: (input) => `environment:${input.params.name}` },
      handler: async ({ db, input, principal, audit }) => {
        const name = input.params.name;
        if (input.body.confirm !== name) {
          throw new PlanNotApplicableError(
            `Cannot destroy "${name}": the confirmation "${input.body.confirm}" does not match`,
            `Send confirm: "${name}"`,
          );
        }
        await requireEnvironment(db as Db, name);
        const requested = await requestPlan(db as Db, {
          environment: name,
          kind: 'destroy',
          trigger: 'api',
          createdBy: principal!.username,
        });
        const plan = await completePlan(db as Db, requested.id, {
          kind: 'destroy',
          status: PlanStatus.Planned,
        });
        const apply = await queueApply(db as Db, plan, principal!.username);
        audit.details = { planId: plan.id, applyId: apply.id, summary: plan.summary };
        return apply;
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/environment-source',
      summary: 'The tracked infrastructure repository and the outcome of its last check',
      tags: ['environments'],
      access: { role: 'viewer', scope: PLATFORM },
      response: Source.nullable(),
      handler: async ({ db }) => (await getSource(db as Db)) ?? null,
    }),
    defineRoute({
      method: 'PUT',
      path: '/api/environment-source',
      summary: 'Track an infrastructure repository (a local path or a git URL) and a branch',
      tags: ['environments'],
      access: { role: 'admin', scope: PLATFORM },
      body: z.strictObject({
        url: z
          .string()
          .min(1)
          .max(2000)
          .refine(
            (u) => isLocalPath(u) || /^(https?|ssh|git):\/\/\S+$/.test(u) || /^[\w.-]+@[\w.-]+:\S+$/.test(u),
            'use an absolute path, or an http(s), ssh or git URL',
          ),
        branch: z
          .string()
          .regex(/^[A-Za-z0-9._/-]{1,200}$/, 'use a branch name such as "main"')
          .refine((b) => !b.startsWith('-') && !b.includes('..'), 'not a branch name'),
        pollInterval: z
          .string()
          .regex(/^\d+(ms|s|m|h)$/, 'use a number and a unit, like "30s"')
          .default('30s'),
      }),
      response: Source,
      audit: { action: 'environments.source.set', target: () => 'environment-source' },
      handler: async ({ db, input, principal, audit }) => {
        const pollIntervalMs = Math.max(500, parseDuration(input.body.pollInterval, 'pollInterval'));
        audit.details = {
          url: input.body.url.replace(/\/\/[^@/]*@/, '//[redacted]@'),
          branch: input.body.branch,
          pollIntervalMs,
        };
        return setSource(
          db as Db,
          { url: input.body.url, branch: input.body.branch, pollIntervalMs },
          principal!.username,
        );
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/environment-source/check',
      summary: 'Check the tracked branch now (as a merge hook would) instead of at the next poll',
      tags: ['environments'],
      access: { role: 'deployer', scope: PLATFORM },
      successStatus: 202,
      response: z.object({ requested: z.boolean() }),
      audit: { action: 'environments.source.check', target: () => 'environment-source' },
      handler: async ({ db }) => {
        if (!(await getSource(db as Db))) throw new NoSourceError();
        await requestSourceCheck(db as Db);
        return { requested: true };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/environments/:name/hosts/:host/join-token',
      summary: 'Create a one-time join token for a host (shown once; valid for an hour)',
      tags: ['environments'],
      access: { role: 'admin', scope: scopeOf },
      params: z.strictObject({ name: EnvironmentName, host: HostName }),
      response: z.object({ host: z.string(), token: z.string(), expiresAt: z.string() }),
      audit: {
        action: 'agents.join-token',
        target: (input) => `host:${input.params.name}/${input.params.host}`,
      },
      handler: async ({ db, input }) => {
        const host = await findHost(db as Db, input.params.name, input.params.host);
        if (!host)
          throw new NotFoundError(`Cannot find host "${input.params.host}" in "${input.params.name}"`, {
            hint: `Run \`slipway env show ${input.params.name}\` to see its hosts`,
          });
        const now = clock.now();
        const token = await issueJoinToken(db as Db, host.id, now);
        return {
          host: host.name,
          token,
          expiresAt: new Date(now.getTime() + JOIN_TOKEN_TTL_MS).toISOString(),
        };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/environments/:name/hosts/:host/revoke',
      summary: "Revoke a host agent's credential (it must join again with a new token)",
      tags: ['environments'],
      access: { role: 'admin', scope: scopeOf },
      params: z.strictObject({ name: EnvironmentName, host: HostName }),
      response: z.object({ host: z.string(), revoked: z.boolean() }),
      audit: { action: 'agents.revoke', target: (input) => `host:${input.params.name}/${input.params.host}` },
      handler: async ({ db, input }) => {
        const host = await findHost(db as Db, input.params.name, input.params.host);
        if (!host)
          throw new NotFoundError(`Cannot find host "${input.params.host}" in "${input.params.name}"`, {
            hint: `Run \`slipway env show ${input.params.name}\` to see its hosts`,
          });
        await revokeHostCredential(db as Db, host.id, clock.now());
        return { host: host.name, revoked: true };
      },
    }),
  ];
}
