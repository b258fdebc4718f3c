import type { Kysely, Selectable } from 'kysely';
import { NotFoundError, newId } from '../core/index.ts';
import type { AppLayout } from './release-layout.ts';
import type { DeploymentsTables, Release, ReleaseArtifact } from './schema.ts';

type Db = Kysely<DeploymentsTables>;
type ReleaseRow = Selectable<DeploymentsTables['releases']>;

/** A release as the API shows it. */
export function toRelease(row: ReleaseRow): Release {
  return {
    id: row.id,
    number: Number(row.number),
    environment: row.environment,
    app: row.app,
    version: row.version,
    artifact: row.artifact,
    config: row.config,
    secretSetVersion: row.secret_set_version,
    reason: row.reason,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
  };
}

/** Records how a built version is laid out (the pipeline does, from the run's slipway.yaml). */
export async function recordLayout(db: Db, app: string, version: string, layout: AppLayout): Promise<void> {
  await db
    .insertInto('release_layouts')
    .values({ app, version, layout: JSON.stringify(layout) as never })
    .onConflict((oc) =>
      oc.columns(['app', 'version']).doUpdateSet({ layout: JSON.stringify(layout) as never }),
    )
    .execute();
}

/**
 * How a version is laid out.
 * @throws NotFoundError when no pipeline run recorded it
 */
export async function getLayout(db: Db, app: string, version: string): Promise<AppLayout> {
  const row = await db
    .selectFrom('release_layouts')
    .select('layout')
    .where('app', '=', app)
    .where('version', '=', version)
    .executeTakeFirst();
  if (!row) {
    throw new NotFoundError(
      `Cannot deploy ${app} ${version}: Slipway does not know how it runs (no slipway.yaml recorded)`,
      {
        hint: 'Deploy a version built by a Slipway pipeline run (`slipway artifacts list --app APP`)',
      },
    );
  }
  return row.layout;
}

/** Creates a release: a version, its configuration and its pinned secret set, for one environment. */
export async function createRelease(
  db: Db,
  input: {
    environment: string;
    app: string;
    version: string;
    artifact: ReleaseArtifact;
    config: Record<string, string>;
    secretSetVersion: number | null;
    reason?: string;
    createdBy: string;
  },
): Promise<Release> {
  const row = await db
    .insertInto('releases')
    .values({
      id: newId(),
      environment: input.environment,
      app: input.app,
      version: input.version,
      artifact: JSON.stringify(input.artifact) as never,
      config: JSON.stringify(input.config) as never,
      secret_set_version: input.secretSetVersion,
      reason: input.reason ?? null,
      created_by: input.createdBy,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRelease(row);
}

/** A release by id. */
export async function getRelease(db: Db, id: string): Promise<Release> {
  const row = await db.selectFrom('releases').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError(`Cannot find release "${id}"`);
  return toRelease(row);
}

/** The release an environment runs for an app, if any. */
export async function currentRelease(db: Db, environment: string, app: string): Promise<Release | undefined> {
  const row = await db
    .selectFrom('environment_releases as er')
    .innerJoin('releases as r', 'r.id', 'er.release_id')
    .selectAll('r')
    .where('er.environment', '=', environment)
    .where('er.app', '=', app)
    .executeTakeFirst();
  return row ? toRelease(row) : undefined;
}

/** Records that a version passed (or failed) in an environment; the promotion policy reads it. */
export async function recordVerification(
  db: Db,
  input: {
    app: string;
    version: string;
    environment: string;
    outcome: 'passed' | 'failed';
    summary?: Record<string, unknown>;
  },
): Promise<void> {
  const values = {
    app: input.app,
    version: input.version,
    environment: input.environment,
    outcome: input.outcome,
    summary: input.summary ? (JSON.stringify(input.summary) as never) : null,
  };
  await db
    .insertInto('release_verifications')
    .values(values)
    .onConflict((oc) =>
      oc
        .columns(['app', 'version', 'environment'])
        .doUpdateSet({ outcome: values.outcome, summary: values.summary, at: new Date() }),
    )
    .execute();
}

/** Whether a version passed in an environment. */
export async function hasPassed(db: Db, app: string, version: string, environment: string): Promise<boolean> {
  const row = await db
    .selectFrom('release_verifications')
    .select('outcome')
    .where('app', '=', app)
    .where('version', '=', version)
    .where('environment', '=', environment)
    .executeTakeFirst();
  return row?.outcome === 'passed';
}
