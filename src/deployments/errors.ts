import { ConflictError, ForbiddenError, NotFoundError, SlipwayError } from '../core/index.ts';

/** Another deployment of the environment is running. */
export class DeploymentInProgressError extends ConflictError {
  constructor(
    readonly environment: string,
    readonly running: { number: number; app: string; version: string; state: string },
  ) {
    super(
      `Cannot deploy to "${environment}": deployment #${running.number} (${running.app} ${running.version}) is ${running.state}`,
      {
        hint: `Wait for it (\`slipway deployments show ${running.number} --wait\`), then deploy again`,
        details: running,
        retryable: true,
      },
    );
  }
}

/** No deployment has this number. */
export class DeploymentNotFoundError extends NotFoundError {
  constructor(readonly deployment: string) {
    super(`Cannot find deployment "${deployment}"`, {
      hint: 'Run `slipway deployments list` to see deployments',
    });
  }
}

/** The promotion policy does not let this version into the environment. */
export class PromotionRefusedError extends ForbiddenError {
  constructor(
    readonly environment: string,
    readonly version: string,
    readonly requires: string,
  ) {
    super(`Cannot deploy ${version} to "${environment}": it has not passed "${requires}"`, {
      hint: `Deploy it to ${requires} first and let its tests pass, or pick a version that did (\`slipway artifacts list\`)`,
      details: { environment, version, requires },
    });
  }
}

/** A rollout action failed; the deployment rolls back. */
export class RolloutActionError extends SlipwayError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CONFLICT', message, { retryable: false, ...options });
  }
}
