/**
 * Builders and fixtures for tests of environments: minimal models, seeded rows for route tests,
 * and infrastructure repositories as real git repositories in temporary directories.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import { newId } from '../core/index.ts';
import { hashOf } from './canonical.ts';
import type { EnvironmentModel } from './model.ts';
import { PlanStatus } from './plans.ts';
import { setSource } from './source.ts';

const run = promisify(execFile);

/** A valid model with nothing to run: applying it creates nothing. */
export function emptyModel(name: string): EnvironmentModel {
  return {
    schemaVersion: 1,
    name,
    provider: { kind: 'local', vendor: 'local' },
    tier: 'minimal',
    approval: 'admin',
    config: {},
    secrets: [],
    access: { admins: [], deployers: [] },
    deploy: { strategy: 'rolling', batchSize: 1, maxSurge: 1, maxUnavailable: 0 },
    promotion: { requires: null },
    services: [],
    loadBalancer: null,
    database: null,
  };
}

/** An environment row, as a plan would leave it. */
export async function seedEnvironment(db: Kysely<any>, name: string): Promise<void> {
  await db
    .insertInto('environments')
    .values({ name, provider: 'local', status: 'not-applied', file: `environments/${name}.ts` })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
}

/** A plan of an empty model, ready to apply. */
export async function seedPlan(db: Kysely<any>, environment: string): Promise<string> {
  await seedEnvironment(db, environment);
  const id = newId();
  const model = emptyModel(environment);
  await db
    .insertInto('environment_plans')
    .values({
      id,
      environment,
      created_by: 'test',
      trigger: 'test',
      kind: 'apply',
      status: PlanStatus.Planned,
      model: JSON.stringify(model),
      model_hash: hashOf(model),
      file: `environments/${environment}.ts`,
      commit: '0'.repeat(40),
      changes: JSON.stringify([]),
      summary: JSON.stringify({ create: 0, update: 0, delete: 0 }),
      problems: JSON.stringify([]),
    })
    .execute();
  return id;
}

/** A finished apply of a seeded plan. */
export async function seedApply(db: Kysely<any>, environment: string): Promise<string> {
  const planId = await seedPlan(db, environment);
  const id = newId();
  await db
    .insertInto('environment_applies')
    .values({
      id,
      environment,
      plan_id: planId,
      requested_by: 'test',
      status: 'succeeded',
      steps: JSON.stringify([]),
      started_at: new Date(),
      finished_at: new Date(),
    })
    .execute();
  return id;
}

/** A host record without a provider behind it. */
export async function seedHost(db: Kysely<any>, environment: string, name: string): Promise<string> {
  await seedEnvironment(db, environment);
  const id = newId();
  await db
    .insertInto('environment_hosts')
    .values({
      id,
      environment,
      name,
      services: ['web'],
      document: JSON.stringify({
        schemaVersion: 1,
        environment,
        host: { id, name, services: ['web'] },
        release: null,
        processes: [],
        tasks: [],
      }),
      events: JSON.stringify([]),
    })
    .onConflict((oc) => oc.columns(['environment', 'name']).doNothing())
    .execute();
  return id;
}

/** An infrastructure repository: a real git repository in a temporary directory. */
export interface InfraRepository {
  readonly path: string;
  /** Writes files (path → content) and commits them on the branch; returns the commit. */
  commit(files: Readonly<Record<string, string | null>>, message?: string): Promise<string>;
  remove(): Promise<void>;
}

/** Creates an infrastructure repository with a `main` branch. */
export async function createInfraRepository(): Promise<InfraRepository> {
  const path = await mkdtemp(join(tmpdir(), 'slipway-infra-repo-'));
  await chmod(path, 0o755);
  const git = (...args: string[]) =>
    run('git', args, {
      cwd: path,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: path,
        GIT_AUTHOR_NAME: 'Infra Tester',
        GIT_AUTHOR_EMAIL: 'infra@example.org',
        GIT_COMMITTER_NAME: 'Infra Tester',
        GIT_COMMITTER_EMAIL: 'infra@example.org',
      },
    });
  await git('init', '--quiet', '--initial-branch=main');
  return {
    path,
    async commit(files, message = 'Change environments') {
      for (const [file, content] of Object.entries(files)) {
        const target = join(path, file);
        if (content === null) {
          await rm(target, { force: true });
        } else {
          await mkdir(dirname(target), { recursive: true });
          await writeFile(target, content);
        }
      }
      await git('add', '--all');
      await git('commit', '--quiet', '--allow-empty', '-m', message);
      return (await git('rev-parse', 'HEAD')).stdout.trim();
    },
    remove: () => rm(path, { recursive: true, force: true }),
  };
}

/** A tracked repository that does not exist (its checks record the error). */
export async function seedSource(db: Kysely<any>): Promise<void> {
  await setSource(
    db,
    { url: '/nonexistent/slipway-test-infra', branch: 'main', pollIntervalMs: 3_600_000 },
    'test',
  );
}
