/**
 * Plans: what applying a definition (or destroying an environment) would change, stored with the
 * commit and file it came from. A plan asked for through the API starts "evaluating"; the background
 * worker evaluates the repository in its sandbox and fills it in (or records every problem).
 */
import type { Kysely, Selectable } from 'kysely';
import { newId } from '../core/index.ts';
import { findUser, listRoleBindings, parseSubject } from '../identity/index.ts';
import { hashOf } from './canonical.ts';
import type { DefinitionProblem, EnvironmentModel } from './model.ts';
import { desiredResources, diffResources, type RecordedResource, summarize } from './resources.ts';
import type { EnvironmentsTables, Plan } from './schema.ts';

type Db = Kysely<EnvironmentsTables>;
type PlanRow = Selectable<EnvironmentsTables['environment_plans']>;

/** Where a plan is in its life. */
export const PlanStatus = {
  Evaluating: 'evaluating',
  Invalid: 'invalid',
  Planned: 'planned',
  AwaitingApproval: 'awaiting-approval',
  Queued: 'queued',
  Applying: 'applying',
  Applied: 'applied',
  Failed: 'failed',
  Superseded: 'superseded',
} as const;
export type PlanStatus = (typeof PlanStatus)[keyof typeof PlanStatus];

/** Statuses of a plan that may still be applied. */
export const APPLICABLE: readonly string[] = [PlanStatus.Planned, PlanStatus.AwaitingApproval];

/** A plan row as the API shows it. */
export function toPlan(row: PlanRow): Plan {
  return {
    id: row.id,
    environment: row.environment,
    kind: row.kind as Plan['kind'],
    trigger: row.trigger,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
    commit: row.commit,
    source: row.source,
    file: row.file,
    summary: (row.summary as Plan['summary']) ?? { create: 0, update: 0, delete: 0 },
    changes: (row.changes as Plan['changes']) ?? [],
    problems: (row.problems as Plan['problems']) ?? [],
    error: row.error,
    decidedBy: row.decided_by,
    decidedAt: row.decided_at?.toISOString() ?? null,
  };
}

/** The resources an environment has now, as recorded. */
export async function recordedResources(db: Db, environment: string): Promise<RecordedResource[]> {
  const rows = await db
    .selectFrom('environment_resources')
    .select(['resource', 'kind', 'spec', 'spec_hash', 'status'])
    .where('environment', '=', environment)
    .execute();
  return rows.map((r) => ({
    id: r.resource,
    kind: r.kind,
    spec: r.spec,
    specHash: r.spec_hash,
    status: r.status,
  }));
}

/** Asks for a plan; the background worker evaluates it. */
export async function requestPlan(
  db: Db,
  request: { environment: string; kind: 'apply' | 'destroy'; trigger: string; createdBy: string },
): Promise<Plan> {
  const row = await db
    .insertInto('environment_plans')
    .values({
      id: newId(),
      environment: request.environment,
      created_by: request.createdBy,
      trigger: request.trigger,
      kind: request.kind,
      status: PlanStatus.Evaluating,
      changes: JSON.stringify([]),
      summary: JSON.stringify({ create: 0, update: 0, delete: 0 }),
      problems: JSON.stringify([]),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toPlan(row);
}

/** Plans still waiting for evaluation, oldest first. */
export async function evaluatingPlans(db: Db): Promise<PlanRow[]> {
  return db
    .selectFrom('environment_plans')
    .selectAll()
    .where('status', '=', PlanStatus.Evaluating)
    .orderBy('created_at')
    .execute();
}

/** Problems with the subjects a definition binds: users and groups must exist. */
export async function subjectProblems(
  db: Kysely<any>,
  file: string,
  model: EnvironmentModel,
): Promise<DefinitionProblem[]> {
  const problems: DefinitionProblem[] = [];
  for (const key of ['admins', 'deployers'] as const) {
    for (const [i, text] of model.access[key].entries()) {
      const subject = parseSubject(text);
      const exists =
        subject.kind === 'user'
          ? (await findUser(db, subject.name)) !== undefined
          : await listRoleBindings(db, { subject }).then(
              () => true,
              () => false,
            );
      if (!exists) {
        problems.push({
          file,
          path: `${model.name}.${key}.${i}`,
          value: text,
          message: `the ${subject.kind} "${subject.name}" does not exist`,
          fix:
            subject.kind === 'user'
              ? `Create it with \`slipway users create ${subject.name}\`, or remove it`
              : `Create it with \`slipway groups create ${subject.name}\`, or remove it`,
        });
      }
    }
  }
  return problems;
}

/** Fills in an evaluated plan: its changes against what exists now, and whether it waits for an admin. */
export async function completePlan(
  db: Db,
  planId: string,
  outcome:
    | {
        kind: 'apply';
        model: EnvironmentModel;
        file: string;
        commit: string;
        source: string;
        status: PlanStatus;
      }
    | { kind: 'destroy'; status: PlanStatus }
    | {
        kind: 'invalid';
        problems: readonly DefinitionProblem[];
        error?: string;
        commit: string | null;
        source: string | null;
      },
): Promise<Plan> {
  const plan = await db
    .selectFrom('environment_plans')
    .selectAll()
    .where('id', '=', planId)
    .executeTakeFirstOrThrow();
  if (outcome.kind === 'invalid') {
    const row = await db
      .updateTable('environment_plans')
      .set({
        status: PlanStatus.Invalid,
        problems: JSON.stringify(outcome.problems),
        error: outcome.error ?? null,
        commit: outcome.commit,
        source: outcome.source,
      })
      .where('id', '=', planId)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toPlan(row);
  }
  const current = await recordedResources(db, plan.environment);
  const desired = outcome.kind === 'apply' ? desiredResources(outcome.model) : [];
  const changes = diffResources(desired, current);
  await supersedeWaitingPlans(db, plan.environment, planId);
  if (outcome.kind === 'apply') await ensureEnvironmentRow(db, outcome.model, outcome.file);
  const row = await db
    .updateTable('environment_plans')
    .set({
      status: outcome.status,
      changes: JSON.stringify(changes),
      summary: JSON.stringify(summarize(changes)),
      ...(outcome.kind === 'apply'
        ? {
            model: JSON.stringify(outcome.model),
            model_hash: hashOf(outcome.model),
            file: outcome.file,
            commit: outcome.commit,
            source: outcome.source,
          }
        : {}),
    })
    .where('id', '=', planId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toPlan(row);
}

/** Creates a plan at once, from a model the caller already validated (GitOps). */
export async function createPlan(
  db: Db,
  request: {
    environment: string;
    kind: 'apply';
    trigger: string;
    createdBy: string;
    model: EnvironmentModel;
    file: string;
    commit: string;
    source: string;
    status: PlanStatus;
  },
): Promise<Plan> {
  const requested = await requestPlan(db, request);
  return completePlan(db, requested.id, request);
}

async function supersedeWaitingPlans(db: Db, environment: string, except: string): Promise<void> {
  await db
    .updateTable('environment_plans')
    .set({ status: PlanStatus.Superseded })
    .where('environment', '=', environment)
    .where('id', '!=', except)
    .where('status', 'in', [PlanStatus.Planned, PlanStatus.AwaitingApproval])
    .execute();
}

async function ensureEnvironmentRow(db: Db, model: EnvironmentModel, file: string): Promise<void> {
  await db
    .insertInto('environments')
    .values({ name: model.name, provider: model.provider.kind, status: 'not-applied', file })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
}

/** A plan of an environment. */
export async function findPlan(db: Db, environment: string, id: string): Promise<Plan | undefined> {
  const row = await db
    .selectFrom('environment_plans')
    .selectAll()
    .where('environment', '=', environment)
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? toPlan(row) : undefined;
}

/** An environment's plans, newest first. */
export async function listPlans(db: Db, environment: string, limit = 20): Promise<Plan[]> {
  const rows = await db
    .selectFrom('environment_plans')
    .selectAll()
    .where('environment', '=', environment)
    .orderBy('created_at', 'desc')
    .limit(limit)
    .execute();
  return rows.map(toPlan);
}

/** The newest plan waiting for an administrator, if any. */
export async function waitingPlan(db: Db, environment: string): Promise<Plan | undefined> {
  const row = await db
    .selectFrom('environment_plans')
    .selectAll()
    .where('environment', '=', environment)
    .where('status', '=', PlanStatus.AwaitingApproval)
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  return row ? toPlan(row) : undefined;
}

/** Sets a plan's status (and who decided, when someone did). */
export async function setPlanStatus(
  db: Db,
  id: string,
  status: PlanStatus,
  decidedBy?: string,
): Promise<void> {
  await db
    .updateTable('environment_plans')
    .set({ status, ...(decidedBy ? { decided_by: decidedBy, decided_at: new Date() } : {}) })
    .where('id', '=', id)
    .execute();
}
