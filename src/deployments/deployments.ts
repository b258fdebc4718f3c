import type { Kysely, Selectable } from 'kysely';
import type { ArtifactRepository } from '../artifacts/index.ts';
import { InvalidInputError, NotFoundError, newId } from '../core/index.ts';
import { appliedModel } from '../environments/index.ts';
import { currentSecretSetVersion, pinSecretSet } from '../secrets/index.ts';
import { inTransaction } from '../store/index.ts';
import { DeploymentInProgressError, DeploymentNotFoundError, PromotionRefusedError } from './errors.ts';
import { createRelease, currentRelease, getLayout, getRelease, hasPassed } from './releases.ts';
import { describeAction } from './runner.ts';
import {
  ACTIVE_STATES,
  type Deployment,
  type DeploymentEvent,
  type DeploymentState,
  type DeploymentsTables,
} from './schema.ts';
import type { RolloutStrategy } from './strategy.ts';

type Db = Kysely<DeploymentsTables>;
type DeploymentRow = Selectable<DeploymentsTables['deployments']>;

/** A request to move an environment to a version of an app. */
export interface DeployRequest {
  readonly environment: string;
  readonly app: string;
  readonly version: string;
  /** The environment's default when absent. */
  readonly strategy?: RolloutStrategy;
  readonly trigger: 'manual' | 'pipeline' | 'rollback';
  readonly requestedBy: string;
  readonly runId?: string;
  readonly reason?: string;
}

async function toDeployment(db: Db, row: DeploymentRow): Promise<Deployment> {
  const release = await getRelease(db, row.release_id);
  const previous = row.previous_release_id ? await getRelease(db, row.previous_release_id) : undefined;
  const inRollback = row.state === 'rolling_back' || row.state === 'rolled_back';
  const actions = inRollback ? (row.rollback_plan ?? []) : row.plan;
  const done = inRollback ? row.rollback_next : row.next_action;
  const current = ACTIVE_STATES.includes(row.state) && actions[done] ? describeAction(actions[done]!) : null;
  return {
    id: row.id,
    number: Number(row.number),
    environment: row.environment,
    app: row.app,
    version: release.version,
    previousVersion: previous?.version ?? null,
    strategy: row.strategy,
    state: row.state,
    progress: { done, total: actions.length, current },
    reason: row.reason,
    trigger: row.trigger,
    requestedBy: row.requested_by,
    createdAt: row.created_at.toISOString(),
    startedAt: row.started_at?.toISOString() ?? null,
    finishedAt: row.finished_at?.toISOString() ?? null,
  };
}

/** The deployment running in an environment, if any. */
export async function activeDeployment(db: Db, environment: string): Promise<Deployment | undefined> {
  const row = await db
    .selectFrom('deployments')
    .selectAll()
    .where('environment', '=', environment)
    .where('state', 'in', [...ACTIVE_STATES])
    .executeTakeFirst();
  return row ? toDeployment(db, row) : undefined;
}

/**
 * Checks a deploy request, pins what the release is made of (artifact, configuration, secret set),
 * adds the version to the environment's channel, and records a pending deployment for the runner.
 * @throws DeploymentInProgressError when the environment has a deployment running
 * @throws PromotionRefusedError when the environment's promotion policy refuses the version
 */
export async function requestDeployment(
  db: Db,
  artifacts: ArtifactRepository,
  request: DeployRequest,
): Promise<Deployment> {
  const model = await appliedModel(db, request.environment);
  if (!model) {
    throw new NotFoundError(`Cannot deploy to "${request.environment}": the environment is not applied`, {
      hint: `Run \`slipway env apply ${request.environment}\` first, or \`slipway env list\` to see environments`,
    });
  }
  if (!model.services.some((s) => s.app === request.app)) {
    throw new InvalidInputError(
      `Cannot deploy ${request.app} to "${request.environment}": no service of the environment runs it`,
      {
        hint: `Add a service with app "${request.app}" to environments/${request.environment}.ts`,
      },
    );
  }
  const running = await activeDeployment(db, request.environment);
  if (running) throw new DeploymentInProgressError(request.environment, running);
  const requires = model.promotion?.requires ?? null;
  if (
    requires &&
    request.trigger !== 'rollback' &&
    !(await hasPassed(db, request.app, request.version, requires))
  ) {
    throw new PromotionRefusedError(request.environment, request.version, requires);
  }
  const artifact = await artifacts.get(request.app, request.version);
  const layout = await getLayout(db, request.app, request.version);
  const previous = await currentRelease(db, request.environment, request.app);
  const setVersion = await currentSecretSetVersion(db, request.environment);

  const id = newId();
  try {
    return await inTransaction(db, async (trx) => {
      const release = await createRelease(trx, {
        environment: request.environment,
        app: request.app,
        version: request.version,
        artifact: {
          name: layout.package,
          version: artifact.version,
          sha256: artifact.sha256,
          channel: request.environment,
        },
        config: { ...model.config },
        secretSetVersion: setVersion > 0 ? setVersion : null,
        ...(request.reason ? { reason: request.reason } : {}),
        createdBy: request.requestedBy,
      });
      if (setVersion > 0) {
        await pinSecretSet(trx, {
          environment: request.environment,
          setVersion,
          pinnedBy: `release:${release.id}`,
        });
      }
      await artifacts.promote(
        {
          app: request.app,
          version: request.version,
          channel: request.environment,
          actor: request.requestedBy,
        },
        trx,
      );
      const row = await trx
        .insertInto('deployments')
        .values({
          id,
          environment: request.environment,
          app: request.app,
          release_id: release.id,
          previous_release_id: previous?.id ?? null,
          strategy: JSON.stringify(request.strategy ?? model.deploy) as never,
          state: 'pending',
          trigger: request.trigger,
          run_id: request.runId ?? null,
          requested_by: request.requestedBy,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('deployment_events')
        .values({
          deployment_id: id,
          level: 'info',
          message: `${request.requestedBy} asked for ${request.app} ${request.version} on ${request.environment}${previous ? ` (from ${previous.version})` : ''}`,
        })
        .execute();
      return toDeployment(trx, row as DeploymentRow);
    });
  } catch (error) {
    // Two requests raced: the unique index keeps one deployment per environment.
    if ((error as { code?: string }).code === '23505') {
      const winner = await activeDeployment(db, request.environment);
      if (winner) throw new DeploymentInProgressError(request.environment, winner);
    }
    throw error;
  }
}

/**
 * Asks for a rollback: the version the environment ran before its current one, deployed with the
 * environment's strategy.
 * @throws NotFoundError when there is nothing to roll back to
 */
export async function requestRollback(
  db: Db,
  artifacts: ArtifactRepository,
  request: { environment: string; app: string; requestedBy: string },
): Promise<Deployment> {
  const last = await db
    .selectFrom('deployments')
    .selectAll()
    .where('environment', '=', request.environment)
    .where('app', '=', request.app)
    .where('state', '=', 'succeeded')
    .orderBy('number', 'desc')
    .executeTakeFirst();
  if (!last?.previous_release_id) {
    throw new NotFoundError(
      `Cannot roll back ${request.app} on "${request.environment}": there is no earlier release`,
      {
        hint: `Run \`slipway deployments list --environment ${request.environment}\` to see what ran there`,
      },
    );
  }
  const previous = await getRelease(db, last.previous_release_id);
  return requestDeployment(db, artifacts, {
    environment: request.environment,
    app: request.app,
    version: previous.version,
    trigger: 'rollback',
    requestedBy: request.requestedBy,
    reason: `rollback of deployment #${last.number}`,
  });
}

/** Deployments, newest first. */
export async function listDeployments(
  db: Db,
  filter: { environment?: string; app?: string; environments?: readonly string[]; limit?: number } = {},
): Promise<Deployment[]> {
  let query = db.selectFrom('deployments').selectAll();
  if (filter.environment) query = query.where('environment', '=', filter.environment);
  if (filter.environments) {
    if (filter.environments.length === 0) return [];
    query = query.where('environment', 'in', [...filter.environments]);
  }
  if (filter.app) query = query.where('app', '=', filter.app);
  const rows = await query
    .orderBy('number', 'desc')
    .limit(filter.limit ?? 50)
    .execute();
  return Promise.all(rows.map((row) => toDeployment(db, row)));
}

/**
 * A deployment by number.
 * @throws DeploymentNotFoundError
 */
export async function getDeployment(db: Db, number: number): Promise<Deployment> {
  const row = await db.selectFrom('deployments').selectAll().where('number', '=', number).executeTakeFirst();
  if (!row) throw new DeploymentNotFoundError(String(number));
  return toDeployment(db, row);
}

/** A deployment's events, oldest first, after an event id (for following). */
export async function deploymentEvents(
  db: Db,
  deploymentId: string,
  afterId = 0,
): Promise<(DeploymentEvent & { id: number })[]> {
  const rows = await db
    .selectFrom('deployment_events')
    .selectAll()
    .where('deployment_id', '=', deploymentId)
    .where('id', '>', afterId)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ id: Number(r.id), at: r.at.toISOString(), level: r.level, message: r.message }));
}

/** Whether a state is final. */
export function isFinished(state: DeploymentState): boolean {
  return !ACTIVE_STATES.includes(state);
}
