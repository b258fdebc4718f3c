/**
 * The pipeline's end, appended after `publish`: deploy the new version to integration, run the app's
 * regression suite against it, and tell the staging administrators (or, when something failed, the
 * developers). Each step logs into the run.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { ArtifactRepository } from '../artifacts/index.ts';
import { type Clock, environmentScope, parseDuration, type Role } from '../core/index.ts';
import { appliedModel, environmentView } from '../environments/index.ts';
import type { Notifier } from '../notifications/index.ts';
import {
  type PipelineStep,
  type PublishOutput,
  type StepContext,
  StepFailedError,
} from '../pipelines/index.ts';
import { deploymentEvents, getDeployment, requestDeployment } from './deployments.ts';
import { DeploymentInProgressError } from './errors.ts';
import { layoutFromSlipwayFile } from './release-layout.ts';
import { recordLayout, recordVerification } from './releases.ts';
import type { DeploymentsService } from './service.ts';

/** What the steps need. */
export interface PipelineStepsOptions {
  readonly db: Kysely<any>;
  readonly service: DeploymentsService;
  readonly artifacts: ArtifactRepository;
  readonly notifier?: Notifier;
  readonly clock: Clock;
  /** The console's URL, for links in notifications. */
  readonly publicUrl?: string;
  /** The environment every build goes to first. @default 'integration' */
  readonly integration?: string;
  /** The environment whose administrators are told a version passed integration. @default 'staging' */
  readonly next?: string;
}

/** What the deploy step records. */
interface DeployOutput {
  readonly skipped: boolean;
  readonly environment: string;
  readonly deployment?: number;
  readonly url?: string;
}

/** What the integration-tests step records. */
interface TestsOutput {
  readonly skipped: boolean;
  readonly summary: string;
  readonly tests?: number;
  readonly failures?: number;
}

/** Totals of JUnit XML reports (the root suite of each file). */
export function junitTotals(
  xml: string,
): { tests: number; failures: number; errors: number; skipped: number } | undefined {
  const root = /<testsuite\b([^>]*)>/.exec(xml)?.[1];
  if (!root) return undefined;
  const attribute = (name: string) => Number(new RegExp(`\\b${name}="(\\d+)"`).exec(root)?.[1] ?? 0);
  return {
    tests: attribute('tests'),
    failures: attribute('failures'),
    errors: attribute('errors'),
    skipped: attribute('skipped'),
  };
}

/** The pipeline steps the Deployments module appends after `publish`. */
export function deploymentPipelineSteps(options: PipelineStepsOptions): PipelineStep[] {
  const integration = options.integration ?? 'integration';
  const next = options.next ?? 'staging';
  const link = (path: string) =>
    options.publicUrl ? `${options.publicUrl.replace(/\/+$/, '')}${path}` : undefined;

  const notify = async (
    context: StepContext,
    input: {
      event: string;
      title: string;
      text: string;
      role: Role;
      environment: string;
      data: Record<string, unknown>;
    },
  ) => {
    if (!options.notifier) return;
    const url = link(`/deployments?app=${context.app.name}`);
    await options.notifier.notify({
      event: input.event,
      title: input.title,
      text: input.text,
      ...(url ? { link: url } : {}),
      app: context.app.name,
      environment: input.environment,
      audience: { role: input.role, scope: environmentScope(input.environment) },
      data: input.data,
    });
    context.log(`told the ${input.role}s of ${input.environment}: ${input.title}\n`);
  };

  const failed = async (context: StepContext, version: string, what: string, reason: string) => {
    await notify(context, {
      event: 'integration.failed',
      title: `${context.app.name} ${version} failed ${what}`,
      text: `Run #${context.run.number} (commit ${context.run.commit.slice(0, 12)} on ${context.run.branch}): ${reason}`,
      role: 'developer',
      environment: integration,
      data: { version, commit: context.run.commit, run: context.run.number },
    }).catch((error) => context.log(`cannot notify the developers: ${(error as Error).message}\n`));
  };

  const deploy: PipelineStep = {
    name: 'deploy-integration',
    title: `Deploy to ${integration}`,
    durable: true,
    timeoutMs: () => 30 * 60_000,
    async run(context) {
      const published = context.outputs.publish as unknown as PublishOutput;
      const file = context.slipwayFile;
      if (!file) throw new StepFailedError('The run has no slipway.yaml: cannot tell how the app runs');
      await recordLayout(context.db, context.app.name, published.version, layoutFromSlipwayFile(file));
      const model = await appliedModel(context.db, integration);
      if (!model?.services.some((s) => s.app === context.app.name)) {
        context.log(
          `No applied "${integration}" environment runs ${context.app.name}: nothing to deploy or test\n`,
        );
        await context.setOutput({ skipped: true, environment: integration } satisfies DeployOutput);
        return 'skipped';
      }
      // Another deployment of integration (a previous build) finishes first.
      let deployment: Awaited<ReturnType<typeof requestDeployment>> | undefined;
      while (!deployment) {
        try {
          deployment = await requestDeployment(context.db, options.artifacts, {
            environment: integration,
            app: context.app.name,
            version: published.version,
            trigger: 'pipeline',
            requestedBy: `pipeline:${context.app.name}#${context.run.number}`,
            runId: context.run.id,
          });
        } catch (error) {
          if (!(error instanceof DeploymentInProgressError)) throw error;
          context.log(`${error.message}; waiting\n`);
          await options.clock.sleep(2000);
          if (context.signal.aborted) throw context.signal.reason;
        }
      }
      context.log(
        `Deployment #${deployment.number}: ${context.app.name} ${published.version} to ${integration}\n`,
      );
      let after = 0;
      const follow = async () => {
        for (const event of await deploymentEvents(context.db, deployment.id, after)) {
          after = event.id;
          context.log(`  ${event.message}\n`);
        }
      };
      let state = deployment.state;
      while (!['succeeded', 'failed', 'rolled_back'].includes(state)) {
        await options.clock.sleep(500);
        await follow();
        if (context.signal.aborted) throw context.signal.reason;
        state = (await getDeployment(context.db, deployment.number)).state;
      }
      await follow();
      if (state !== 'succeeded') {
        const { reason } = await getDeployment(context.db, deployment.number);
        await failed(context, published.version, `its deployment to ${integration}`, reason ?? state);
        throw new StepFailedError(
          `Deployment #${deployment.number} to ${integration} ${state.replace('_', ' ')}: ${reason ?? ''}`,
        );
      }
      const view = await environmentView(context.db, integration, options.clock.now(), { canApply: false });
      const url = view?.loadBalancer?.endpoints[0]?.url;
      await context.setOutput({
        skipped: false,
        environment: integration,
        deployment: deployment.number,
        ...(url ? { url } : {}),
      } satisfies DeployOutput);
      return undefined;
    },
  };

  const tests: PipelineStep = {
    name: 'integration-tests',
    title: `Regression tests on ${integration}`,
    timeoutMs: (file) => (file?.regression ? parseDuration(file.regression.timeout) + 60_000 : 60_000),
    async run(context) {
      const deployed = context.outputs['deploy-integration'] as unknown as DeployOutput | undefined;
      const published = context.outputs.publish as unknown as PublishOutput;
      const regression = context.slipwayFile?.regression;
      if (!deployed || deployed.skipped) return 'skipped';
      if (!regression) {
        await context.setOutput({
          skipped: true,
          summary: 'the app has no regression suite',
        } satisfies TestsOutput);
        context.log('slipway.yaml names no regression suite: nothing to run\n');
        return 'skipped';
      }
      const reports = '.slipway-test-reports';
      const reportDir = join(context.workspace.appDir, reports);
      await rm(reportDir, { recursive: true, force: true });
      const env: Record<string, string> = {
        SLIPWAY_TEST_REPORT_DIR: reports,
        SLIPWAY_ENVIRONMENT: integration,
      };
      if (deployed.url) env.APP_URL = deployed.url;
      let failure: string | undefined;
      try {
        await context.workspace.run({
          name: `regression suite against ${deployed.url ?? integration}`,
          command: regression.run,
          timeoutMs: parseDuration(regression.timeout),
          env,
          network: 'allowed', // the suite talks to the environment it tests
        });
      } catch (error) {
        failure = (error as Error).message;
      }
      // JUnit XML written by the suite, when it writes any, makes the summary.
      const totals = { tests: 0, failures: 0, errors: 0, skipped: 0 };
      let files = 0;
      for (const name of (await readdir(reportDir).catch(() => [])).filter((f) => f.endsWith('.xml'))) {
        const found = junitTotals(await readFile(join(reportDir, name), 'utf8'));
        if (!found) continue;
        files += 1;
        for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += found[key];
      }
      const summary = files
        ? `regression: ${totals.tests - totals.failures - totals.errors - totals.skipped}/${totals.tests} passed` +
          `${totals.failures + totals.errors ? `, ${totals.failures + totals.errors} failed` : ''}${totals.skipped ? `, ${totals.skipped} skipped` : ''}`
        : `regression: ${failure ? 'failed' : 'passed'} (no JUnit report)`;
      await context.setOutput({
        skipped: false,
        summary,
        tests: totals.tests,
        failures: totals.failures + totals.errors,
      } satisfies TestsOutput);
      await recordVerification(context.db, {
        app: context.app.name,
        version: published.version,
        environment: integration,
        outcome: failure ? 'failed' : 'passed',
        summary: { summary, ...totals, run: context.run.number },
      });
      context.log(`${summary}\n`);
      if (failure) {
        await failed(
          context,
          published.version,
          `its regression tests on ${integration}`,
          `${summary}: ${failure}`,
        );
        throw new StepFailedError(`The regression suite failed on ${integration}: ${summary}`);
      }
      return undefined;
    },
  };

  const announce: PipelineStep = {
    name: 'notify',
    title: `Tell the ${next} administrators`,
    timeoutMs: () => 60_000,
    async run(context) {
      const deployed = context.outputs['deploy-integration'] as unknown as DeployOutput | undefined;
      if (!deployed || deployed.skipped) return 'skipped';
      const published = context.outputs.publish as unknown as PublishOutput;
      const tested = context.outputs['integration-tests'] as unknown as TestsOutput | undefined;
      const summary = tested?.summary ?? 'regression: not run';
      await notify(context, {
        event: 'integration.passed',
        title: `${context.app.name} ${published.version} passed ${integration}: ready for ${next}`,
        text: [
          `Version ${published.version} (commit ${context.run.commit.slice(0, 12)} on ${context.run.branch}, run #${context.run.number}) is live on ${integration}.`,
          `Tests: unit passed in the build; ${summary}.`,
          `Deploy it to ${next} with: slipway deploy ${next} ${published.version} --app ${context.app.name}`,
        ].join('\n'),
        role: 'admin',
        environment: next,
        data: {
          version: published.version,
          commit: context.run.commit,
          run: context.run.number,
          tests: summary,
        },
      });
      return undefined;
    },
  };

  return [deploy, tests, announce];
}
