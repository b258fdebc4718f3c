/**
 * How the Deployments module extends a run: steps appended after `publish` (here a deploy to an
 * integration channel and integration tests run in the sandbox) see the published artifact, the
 * parsed slipway.yaml and the workspace; a run stopped after a durable step resumes there, with the
 * commit checked out again, and does not publish or deploy twice.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { artifactsMigrations, openArtifactRepository } from '../src/artifacts/index.ts';
import { auditMigrations } from '../src/audit/index.ts';
import { SYSTEM_CLOCK } from '../src/core/index.ts';
import { JobQueue } from '../src/jobs/index.ts';
import {
  AppSecrets,
  appSecretCipher,
  BUILD_STEPS,
  CreateAppBody,
  createApp,
  type PipelineStep,
  PipelinesService,
  type PublishOutput,
  pipelinesMigrations,
  type Run,
} from '../src/pipelines/index.ts';
import { readLogs } from '../src/pipelines/run-log.ts';
import { findRun } from '../src/pipelines/runs.ts';
import { generateRootKey, SecretVault, secretsMigrations } from '../src/secrets/index.ts';
import { type Database, migrateToLatest, openDatabase } from '../src/store/index.ts';
import { startPostgres, type TestPostgres } from '../src/store/testing.ts';
import { makeRepository, type TestRepository, tinyApp } from './pipelines-support.ts';

let postgres: TestPostgres;
let database: Database;
let vault: SecretVault;
let root: string;
let repo: TestRepository;
const deployed: string[] = [];
let hangTests = true;

/** A stand-in for the Deployments module's steps. */
const deployToIntegration: PipelineStep = {
  name: 'deploy-integration',
  title: 'Deploy to integration',
  durable: true,
  timeoutMs: () => 60_000,
  async run(context) {
    const published = context.outputs.publish as unknown as PublishOutput;
    await context.services.artifacts.promote({
      app: context.app.name,
      version: published.version,
      channel: 'integration',
    });
    deployed.push(published.version);
    context.log(
      `deployed ${published.version} (health check ${context.slipwayFile?.health_check?.path ?? 'none'})\n`,
    );
    await context.setOutput({ environment: 'integration', version: published.version });
  },
};
const integrationTests: PipelineStep = {
  name: 'integration-tests',
  title: 'Integration tests',
  timeoutMs: () => 60_000,
  async run(context) {
    const { version } = context.outputs['deploy-integration'] as { version: string };
    await context.workspace.run({
      name: 'regression suite',
      command: hangTests ? 'sleep 60' : 'test -f slipway.yaml && echo "tested $APP_VERSION"',
      timeoutMs: 60_000,
      env: { APP_VERSION: version },
    });
  },
};

/** A control plane's pipelines: a service on a job queue of its own. */
async function controlPlane(): Promise<{ service: PipelinesService; stop(): Promise<void> }> {
  const queue = await JobQueue.start(database.settings);
  const service = new PipelinesService({
    db: database.db,
    pool: database.pool,
    queue,
    artifacts: openArtifactRepository({ db: database.db, dataDir: join(root, 'data') }),
    secretCipher: appSecretCipher(vault),
    dataDir: join(root, 'data'),
    clock: SYSTEM_CLOCK,
    steps: [...BUILD_STEPS, deployToIntegration, integrationTests],
    pollTickMs: 3_600_000,
  });
  await service.start();
  return {
    service,
    async stop() {
      await service.stop();
      await queue.stop();
    },
  };
}

async function runOf(number: number): Promise<Run> {
  return findRun(database.db, 'extended', number);
}

async function until(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  postgres = await startPostgres();
  database = openDatabase({ connectionString: postgres.url });
  await migrateToLatest(database.db, [
    auditMigrations,
    secretsMigrations,
    artifactsMigrations,
    pipelinesMigrations,
  ]);
  vault = await SecretVault.open({ db: database.db, rootKey: { value: generateRootKey() } });
  root = await mkdtemp(join(tmpdir(), 'slipway-extension-'));
  await chmod(root, 0o711);
  repo = await makeRepository();
  const files = tinyApp('extended');
  files['slipway.yaml'] += 'health_check:\n  path: /up\n';
  await repo.commit(files);
  await repo.push();
  await createApp(database.db, CreateAppBody.parse({ name: 'extended', repository: repo.bare }), {
    secrets: new AppSecrets(appSecretCipher(vault)),
  });
});
afterAll(async () => {
  await database?.close();
  await postgres?.stop();
  await repo?.remove();
  await rm(root, { recursive: true, force: true });
});

test('appended steps run after publish and resume after a durable one', async () => {
  const first = await controlPlane();
  const { run } = await first.service.startManually('extended', {});
  expect((await runOf(run.number)).steps.map((s) => s.name)).toStrictEqual([
    'checkout',
    'build',
    'unit-tests',
    'package',
    'publish',
    'deploy-integration',
    'integration-tests',
  ]);
  // The integration tests hang; the control plane stops under them.
  await until(async () => (await runOf(run.number)).steps[6]?.state === 'running');
  await first.stop();
  expect((await runOf(run.number)).state).toBe('queued');

  hangTests = false;
  const second = await controlPlane();
  await until(async () => ['succeeded', 'failed'].includes((await runOf(run.number)).state));
  await second.stop();
  const finished = await runOf(run.number);
  expect(finished).toMatchObject({ state: 'succeeded', attempt: 2 });
  expect(finished.steps.map((s) => s.state)).toStrictEqual(Array(7).fill('succeeded'));
  expect(deployed).toStrictEqual([finished.version]); // deployed once, not again on the retry
  const log = (await readLogs(database.db, finished.id, { limit: 10_000 })).map((c) => c.text).join('');
  expect(log).toContain('== Resuming after "Deploy to integration": checking the commit out again');
  expect(log).toContain(`tested ${finished.version}`);
  expect(log).toContain('(health check /up)');
  const inIntegration = await openArtifactRepository({ db: database.db, dataDir: join(root, 'data') }).list({
    channel: 'integration',
  });
  expect(inIntegration.map((a) => a.version)).toStrictEqual([finished.version]);
}, 120_000);
