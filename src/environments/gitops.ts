/**
 * GitOps: the tracked branch is checked every poll interval. A new commit is evaluated as a whole;
 * every environment whose definition changed gets a plan; environments that apply automatically
 * (integration by default) are applied at once, the others wait for one of their administrators.
 * A commit with problems is recorded with every problem, and nothing is planned or touched.
 */
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.ts';
import type { Clock } from '../core/index.ts';
import { queueApply } from './applies.ts';
import { hashOf } from './canonical.ts';
import { evaluateSourceHead } from './evaluate-source.ts';
import { completePlan, createPlan, PlanStatus, requestPlan } from './plans.ts';
import type { EnvironmentsTables } from './schema.ts';
import { getSource, recordSourceCheck } from './source.ts';

type Db = Kysely<EnvironmentsTables>;

/** What a GitOps check did. */
export interface GitOpsOutcome {
  readonly checked: boolean;
  readonly commit?: string;
  readonly planned: readonly string[];
  readonly applied: readonly string[];
  readonly problems: number;
}

const ACTOR = 'system:gitops';

/** Checks the tracked branch if it is due (or `force`); plans and applies what changed. */
export async function checkSource(
  deps: { db: Kysely<any>; clock: Clock; mirrorDirectory: string },
  options: { force?: boolean } = {},
): Promise<GitOpsOutcome> {
  const db = deps.db as Db;
  const none: GitOpsOutcome = { checked: false, planned: [], applied: [], problems: 0 };
  const source = await getSource(db);
  if (!source) return none;
  const now = deps.clock.now();
  const due =
    !source.lastCheckedAt ||
    now.getTime() - new Date(source.lastCheckedAt).getTime() >= source.pollIntervalMs;
  if (!due && !options.force) return none;
  let evaluation: Awaited<ReturnType<typeof evaluateSourceHead>>;
  try {
    evaluation = await evaluateSourceHead(deps.db, deps.mirrorDirectory);
  } catch (error) {
    await recordSourceCheck(db, { error: { message: (error as Error).message } }, now);
    return { ...none, checked: true };
  }
  const { commit } = evaluation;
  if (commit === source.lastCommit && !source.lastError && !options.force) {
    await recordSourceCheck(db, { commit }, now);
    return { ...none, checked: true, commit };
  }
  if (evaluation.problems.length > 0) {
    const firstTime = commit !== source.lastCommit;
    await recordSourceCheck(
      db,
      {
        commit,
        error: {
          message: `${evaluation.problems.length} problems in the definitions at ${commit.slice(0, 12)}; nothing was planned`,
          problems: [...evaluation.problems],
          commit,
        },
      },
      now,
    );
    if (firstTime) {
      await appendAudit(
        deps.db,
        {
          actor: ACTOR,
          action: 'environments.gitops.rejected',
          target: `commit:${commit}`,
          outcome: 'failure',
          details: { problems: evaluation.problems.length, source: evaluation.source },
        },
        now,
      );
    }
    return { checked: true, commit, planned: [], applied: [], problems: evaluation.problems.length };
  }
  const planned: string[] = [];
  const applied: string[] = [];
  for (const { model, file } of evaluation.validation.environments) {
    const hash = hashOf(model);
    const environment = await db
      .selectFrom('environments')
      .select(['model_hash', 'status'])
      .where('name', '=', model.name)
      .executeTakeFirst();
    if (environment?.model_hash === hash && environment.status !== 'destroyed') continue;
    const pending = await db
      .selectFrom('environment_plans')
      .select('id')
      .where('environment', '=', model.name)
      .where('model_hash', '=', hash)
      .where('status', 'in', [PlanStatus.AwaitingApproval, PlanStatus.Queued, PlanStatus.Applying])
      .executeTakeFirst();
    if (pending) continue;
    const automatic = model.approval === 'automatic';
    const plan = await createPlan(db, {
      environment: model.name,
      kind: 'apply',
      trigger: 'git',
      createdBy: ACTOR,
      model,
      file,
      commit,
      source: evaluation.source,
      status: automatic ? PlanStatus.Planned : PlanStatus.AwaitingApproval,
    });
    planned.push(model.name);
    await appendAudit(
      deps.db,
      {
        actor: ACTOR,
        action: 'environments.plan',
        target: `environment:${model.name}`,
        outcome: 'success',
        details: { planId: plan.id, commit, summary: plan.summary, waitsForAdmin: !automatic },
      },
      now,
    );
    if (automatic) {
      const apply = await queueApply(db, plan, ACTOR);
      applied.push(model.name);
      await appendAudit(
        deps.db,
        {
          actor: ACTOR,
          action: 'environments.apply',
          target: `environment:${model.name}`,
          outcome: 'success',
          details: { planId: plan.id, applyId: apply.id, commit },
        },
        now,
      );
    }
  }
  // An environment the repository no longer defines is not destroyed on its own: a destroy plan waits for an admin.
  const defined = new Set(evaluation.validation.environments.map((e) => e.model.name));
  const live = await db
    .selectFrom('environments')
    .select('name')
    .where('status', 'not in', ['destroyed', 'not-applied'])
    .execute();
  for (const { name } of live) {
    if (defined.has(name)) continue;
    const waiting = await db
      .selectFrom('environment_plans')
      .select('id')
      .where('environment', '=', name)
      .where('kind', '=', 'destroy')
      .where('status', 'in', [PlanStatus.AwaitingApproval, PlanStatus.Queued, PlanStatus.Applying])
      .executeTakeFirst();
    if (waiting) continue;
    const requested = await requestPlan(db, {
      environment: name,
      kind: 'destroy',
      trigger: 'git',
      createdBy: ACTOR,
    });
    await completePlan(db, requested.id, { kind: 'destroy', status: PlanStatus.AwaitingApproval });
    planned.push(name);
  }
  await recordSourceCheck(db, { commit, error: null }, now);
  return { checked: true, commit, planned, applied, problems: 0 };
}
