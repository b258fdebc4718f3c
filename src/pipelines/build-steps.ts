import { lstat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import {
  ArtifactVersionConflictError,
  buildDeb,
  buildVersion,
  maxVersion,
  readDebControl,
} from '../artifacts/index.ts';
import { parseDuration, SLIPWAY_VERSION } from '../core/index.ts';
import { StepFailedError } from './errors.ts';
import type { PipelineStep, StepContext } from './pipeline-step.ts';
import { setRunVersion } from './run-lifecycle.ts';
import type { PipelineTables } from './schema.ts';
import { parseSlipwayFile, SLIPWAY_FILE, type SlipwayFile, SlipwayFileError } from './slipway-file.ts';

const MINUTE = 60_000;

/** What the checkout step records for the steps after it. */
export interface CheckoutOutput {
  readonly commit: string;
  readonly version: string;
  /** The base version used (never below an earlier build's). */
  readonly base: string;
  /** Where the base came from. */
  readonly baseFrom: 'slipway.yaml' | 'tag' | 'default';
  readonly slipwayFile: SlipwayFile;
}

/** What the package step records. */
export interface PackageOutput {
  readonly file: string;
  readonly filename: string;
  readonly size: number;
  readonly builtAt: string;
}

/** What the publish step records: the artifact in the repository. */
export interface PublishOutput {
  readonly artifactId: string;
  readonly version: string;
  readonly sha256: string;
  readonly size: number;
  readonly filename: string;
}

function checkoutOf(context: StepContext): CheckoutOutput {
  const output = context.outputs.checkout as CheckoutOutput | undefined;
  if (!output) throw new StepFailedError('The checkout step left no record: this run cannot continue');
  return output;
}

/** Variables every build and test command sees. */
export function buildEnvironment(context: StepContext): Record<string, string> {
  const checkout = context.outputs.checkout as CheckoutOutput | undefined;
  return {
    SLIPWAY_APP: context.app.name,
    SLIPWAY_RUN: `${context.app.name}/${context.run.number}`,
    SLIPWAY_BUILD: String(context.run.number),
    SLIPWAY_COMMIT: context.run.commit,
    SLIPWAY_BRANCH: context.run.branch,
    ...(checkout ? { SLIPWAY_VERSION: checkout.version } : {}),
  };
}

/** The highest base version of this app's earlier builds, or undefined for its first. */
async function highestBaseSoFar(db: Kysely<any>, app: string): Promise<string | undefined> {
  const { rows } = await sql<{ version: string }>`
    SELECT DISTINCT split_part(version, '~b', 1) AS version FROM pipeline_runs
    WHERE app = ${app} AND version IS NOT NULL`.execute(db as Kysely<PipelineTables>);
  return rows
    .map((r) => r.version)
    .reduce<string | undefined>((max, v) => (max ? maxVersion(max, v) : v), undefined);
}

const checkout: PipelineStep = {
  name: 'checkout',
  title: 'Check out the commit',
  timeoutMs: () => 10 * MINUTE,
  async run(context) {
    const file = context.app.path === '.' ? SLIPWAY_FILE : `${context.app.path}/${SLIPWAY_FILE}`;
    context.log(`Fetching ${context.app.repository} and checking out ${context.run.commit}\n`);
    await context.workspace.checkout();
    const text = await context.workspace.readCommitFile(file);
    if (text === undefined) {
      throw new StepFailedError(`Cannot build: commit ${context.run.commit.slice(0, 12)} has no ${file}`, {
        hint: "Add a slipway.yaml at the app's path (see docs/slipway-yaml.md), or fix the app's --path",
      });
    }
    const slipwayFile = parseSlipwayFile(text, file);
    if (slipwayFile.app !== context.app.name) {
      throw new SlipwayFileError(file, [
        {
          file,
          path: 'app',
          message: `is "${slipwayFile.app}" but this repository is registered as app "${context.app.name}"`,
          fix: `set app: ${context.app.name}, or register the app under the name "${slipwayFile.app}"`,
        },
      ]);
    }
    const tag = slipwayFile.version ? undefined : await context.workspace.latestVersionTag();
    const declared = slipwayFile.version ?? tag ?? '0.0.0';
    const earlier = await highestBaseSoFar(context.db, context.app.name);
    const base = earlier ? maxVersion(declared, earlier) : declared;
    if (base !== declared) {
      context.log(
        `Base version ${declared} is below ${earlier}, used by an earlier build: building on ${base}\n`,
      );
    }
    const version = buildVersion({ base, build: context.run.number, commit: context.run.commit });
    await setRunVersion(context.db, context.run.id, version);
    context.log(
      `Version ${version} (base ${base} from ${slipwayFile.version ? file : tag ? `tag v${tag}` : 'the default'})\n`,
    );
    const output: CheckoutOutput = {
      commit: context.run.commit,
      version,
      base,
      baseFrom: slipwayFile.version ? 'slipway.yaml' : tag ? 'tag' : 'default',
      slipwayFile,
    };
    await context.setOutput(output as unknown as Record<string, unknown>);
  },
};

const build: PipelineStep = {
  name: 'build',
  title: 'Build',
  timeoutMs: (file) =>
    file
      ? file.build.steps.reduce((sum, step) => sum + parseDuration(step.timeout), 0) + MINUTE
      : 60 * MINUTE,
  async run(context) {
    const { slipwayFile } = checkoutOf(context);
    if (slipwayFile.build.steps.length === 0) {
      context.log('slipway.yaml has no build steps\n');
      return 'skipped';
    }
    for (const step of slipwayFile.build.steps) {
      await context.workspace.run({
        name: step.name,
        command: step.run,
        timeoutMs: parseDuration(step.timeout),
        env: { ...slipwayFile.build.env, ...step.env, ...buildEnvironment(context) },
      });
    }
  },
};

const unitTests: PipelineStep = {
  name: 'unit-tests',
  title: 'Unit tests',
  timeoutMs: (file) => (file?.test ? parseDuration(file.test.timeout) + MINUTE : 10 * MINUTE),
  async run(context) {
    const { slipwayFile } = checkoutOf(context);
    const test = slipwayFile.test;
    if (!test) {
      context.log('slipway.yaml has no test command\n');
      return 'skipped';
    }
    await context.workspace.run({
      name: test.name ?? 'unit tests',
      command: test.run,
      timeoutMs: parseDuration(test.timeout),
      env: { ...slipwayFile.build.env, ...test.env, ...buildEnvironment(context) },
    });
  },
};

/** The app's directory must be a real directory of the checkout, not a link out of it. */
async function assertRealDirectory(root: string, path: string): Promise<void> {
  let current = root;
  for (const part of path.split('/').filter((p) => p !== '.' && p !== '')) {
    current = join(current, part);
    const info = await lstat(current).catch(() => undefined);
    if (!info?.isDirectory()) {
      throw new StepFailedError(
        `Cannot package: the app's path "${path}" is not a directory of the checkout`,
        {
          hint: 'Point the app at a real directory (`slipway apps show APP` shows its path)',
        },
      );
    }
  }
}

const packageStep: PipelineStep = {
  name: 'package',
  title: 'Package the .deb',
  timeoutMs: () => 15 * MINUTE,
  async run(context) {
    const { slipwayFile, version } = checkoutOf(context);
    await assertRealDirectory(context.workspace.root, context.app.path);
    const built = await buildDeb(slipwayFile.package, {
      workspace: context.workspace.appDir,
      version,
      outDir: context.workspace.outDir,
      extraFields: {
        'Slipway-App': context.app.name,
        'Slipway-Commit': context.run.commit,
        'Slipway-Build': String(context.run.number),
      },
      log: (line) => context.log(`${line}\n`),
    });
    const control = await readDebControl(built.path);
    const { size } = await lstat(built.path);
    context.log(
      `Built ${built.filename}: ${built.files} files, ${size} bytes\n${control.text
        .split('\n')
        .map((line) => `  ${line}`)
        .join('\n')}\n`,
    );
    const output: PackageOutput = {
      file: built.path,
      filename: built.filename,
      size,
      builtAt: context.services.clock.now().toISOString(),
    };
    await context.setOutput(output as unknown as Record<string, unknown>);
  },
};

const publish: PipelineStep = {
  name: 'publish',
  title: 'Publish to the artifact repository',
  durable: true,
  timeoutMs: () => 15 * MINUTE,
  async run(context) {
    const { version } = checkoutOf(context);
    const built = context.outputs.package as PackageOutput | undefined;
    if (!built) throw new StepFailedError('The package step left no package to publish');
    const runHandle = `${context.app.name}/${context.run.number}`;
    const metadata = {
      commit: context.run.commit,
      branch: context.run.branch,
      run: runHandle,
      runNumber: context.run.number,
      buildTime: built.builtAt,
      builder: `slipway ${SLIPWAY_VERSION} on ${hostname()}`,
    };
    const { artifacts } = context.services;
    let stored: { id: string; sha256: string; size: number; filename: string; version: string };
    try {
      const result = await artifacts.storeFile(built.file, {
        app: context.app.name,
        actor: `run:${runHandle}`,
        metadata,
      });
      stored = result.artifact;
      context.log(
        `${result.created ? 'Stored' : 'Already stored'} ${stored.filename} (sha256 ${stored.sha256})\n`,
      );
    } catch (error) {
      // An earlier attempt of this very run may have stored its own build before the control plane stopped.
      if (!(error instanceof ArtifactVersionConflictError)) throw error;
      const existing = await artifacts.get(context.app.name, version);
      if (existing.metadata.run !== runHandle) throw error;
      stored = existing;
      context.log(`Version ${version} was published by an earlier attempt of this run; keeping it\n`);
    }
    await (context.db as Kysely<PipelineTables>)
      .updateTable('pipeline_apps')
      .set({
        latest_run_id: context.run.id,
        latest_run_number: context.run.number,
        latest_version: stored.version,
        latest_built_at: context.services.clock.now(),
      })
      .where('id', '=', context.app.id)
      .execute();
    const output: PublishOutput = {
      artifactId: stored.id,
      version: stored.version,
      sha256: stored.sha256,
      size: stored.size,
      filename: stored.filename,
    };
    await context.setOutput(output as unknown as Record<string, unknown>);
    const deleted = await artifacts
      .applyRetention(context.app.name, context.app.retentionKeep)
      .catch((error) => {
        context.services.logger?.warn({ err: error, app: context.app.name }, 'retention failed');
        return [] as string[];
      });
    if (deleted.length > 0)
      context.log(`Retention removed ${deleted.length} old version(s): ${deleted.join(', ')}\n`);
  },
};

/**
 * The build pipeline: checkout, build, unit tests, package, publish. A successful run ends with the
 * artifact in the repository and recorded as the app's latest build; Deployments appends its steps.
 */
export const BUILD_STEPS: readonly PipelineStep[] = [checkout, build, unitTests, packageStep, publish];
