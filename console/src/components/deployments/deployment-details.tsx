import { useCallback, useMemo } from 'react';
import type { ApiError } from '../../api/api-error.ts';
import { formatDateTime } from '../../format.ts';
import { useSession } from '../../session.tsx';
import { ConfirmButton } from '../confirm-button.tsx';
import { DateTime } from '../date-time.tsx';
import { ErrorMessage } from '../error-message.tsx';
import { Loading, Section } from '../page.tsx';
import { RunLog } from '../pipelines/run-log.tsx';
import { useAction } from '../use-action.ts';
import { useResource } from '../use-resource.ts';
import { DeploymentStateBadge } from './deployment-state-badge.tsx';
import { type DeploymentStep, deploymentSteps } from './deployment-steps.ts';
import { type Deployment, type DeploymentEvent, describeStrategy, isFinished } from './types.ts';
import { useLiveDeployment } from './use-live-deployment.ts';

/** Props of DeploymentDetails. */
export interface DeploymentDetailsProps {
  readonly number: number;
  readonly onClose: () => void;
  /** Called with the deployment a rollback started. */
  readonly onRolledBack: (deployment: Deployment) => void;
}

const STATUS_WORDS: Readonly<Record<DeploymentStep['status'], string>> = {
  done: 'done',
  running: 'running',
  failed: 'failed',
};

/** One deployment: its facts, its progress and steps (with their hook output), and its log, live. */
export function DeploymentDetails({ number, onClose, onRolledBack }: DeploymentDetailsProps) {
  const { client } = useSession();
  const live = useLiveDeployment(client, number);
  const { deployment, events } = live;
  const rollback = useRollback(deployment, onRolledBack);
  const steps = useMemo(
    () => (deployment ? deploymentSteps(deployment, events) : { steps: [], remaining: 0 }),
    [deployment, events],
  );
  return (
    <Section
      title={`Deployment #${number}`}
      actions={
        <>
          {deployment ? <RollbackButton offer={rollback} /> : null}
          <button type="button" onClick={onClose}>
            Close
          </button>
        </>
      }
    >
      <ErrorMessage error={live.error} title="Cannot read the deployment" />
      <ErrorMessage error={rollback.error} title="Cannot roll back" />
      {rollback.offered && rollback.known && !rollback.lastSucceeded?.previousVersion ? (
        <p className="muted">
          No earlier release of {deployment?.app} on {deployment?.environment} to roll back to.
        </p>
      ) : null}
      {deployment ? (
        <>
          <dl className="facts">
            <dt>State</dt>
            <dd>
              <DeploymentStateBadge state={deployment.state} />{' '}
              {live.live && !isFinished(deployment) ? <span className="muted">(live)</span> : null}
              {deployment.reason ? <> {deployment.reason}</> : null}
            </dd>
            <dt>Release</dt>
            <dd>
              <span className="mono">
                {deployment.app} {deployment.version}
              </span>{' '}
              to {deployment.environment}
              {deployment.previousVersion ? (
                <span className="muted"> (from {deployment.previousVersion})</span>
              ) : null}
            </dd>
            <dt>Strategy</dt>
            <dd>{describeStrategy(deployment.strategy)}</dd>
            <dt>Requested</dt>
            <dd>
              by {deployment.requestedBy}
              {deployment.trigger === 'rollback' ? ' (rollback)' : ''},{' '}
              <DateTime value={deployment.createdAt} />
            </dd>
            <dt>Finished</dt>
            <dd>
              <DateTime value={deployment.finishedAt} />
            </dd>
          </dl>
          <Progress deployment={deployment} />
          <StepList steps={steps.steps} remaining={steps.remaining} />
        </>
      ) : live.live ? (
        <Loading what="the deployment" />
      ) : null}
      <RunLog text={logText(events)} label={`Log of deployment #${number}`} />
    </Section>
  );
}

function Progress({ deployment }: { readonly deployment: Deployment }) {
  const { done, total, current } = deployment.progress;
  if (total === 0) return null;
  const rollingBack = deployment.state === 'rolling_back' || deployment.state === 'rolled_back';
  const label = rollingBack ? 'Rollback progress' : 'Rollout progress';
  return (
    <div className="deployment-progress">
      <progress aria-label={label} max={total} value={done} />
      <span role="status">
        {rollingBack ? 'Rollback: ' : ''}
        {done} of {total} steps done{current && !isFinished(deployment) ? `; now: ${current}` : ''}
      </span>
    </div>
  );
}

function StepList({
  steps,
  remaining,
}: {
  readonly steps: readonly DeploymentStep[];
  readonly remaining: number;
}) {
  if (steps.length === 0) return null;
  const phases = (['rollout', 'rollback'] as const).filter((phase) => steps.some((s) => s.phase === phase));
  return (
    <>
      {phases.map((phase) => (
        <div key={phase}>
          {phases.length > 1 ? (
            <h3 className="deployment-phase">{phase === 'rollout' ? 'Rollout' : 'Rollback'}</h3>
          ) : null}
          <ol className="deployment-steps" aria-label={phase === 'rollout' ? 'Steps' : 'Rollback steps'}>
            {steps
              .filter((step) => step.phase === phase)
              .map((step) => (
                <li key={`${step.phase}-${step.number}`} data-status={step.status}>
                  <div className="deployment-step-head">
                    <span className="deployment-step-number">
                      {step.number}/{step.total}
                    </span>
                    <span>{step.description}</span>
                    <span
                      className={`badge ${
                        step.status === 'done'
                          ? 'badge-ok'
                          : step.status === 'failed'
                            ? 'badge-bad'
                            : 'pipeline-badge-running'
                      }`}
                    >
                      {STATUS_WORDS[step.status]}
                    </span>
                  </div>
                  {step.lines.length > 0 ? (
                    <ul className="deployment-step-lines">
                      {step.lines.map((line) => (
                        <li key={line.id} className={`deployment-line-${line.level}`}>
                          {line.message}
                        </li>
                      ))}
                    </ul>
                  ) : null}
                </li>
              ))}
          </ol>
        </div>
      ))}
      {remaining > 0 ? (
        <p className="muted">
          {remaining} more step{remaining === 1 ? '' : 's'} to go
        </p>
      ) : null}
    </>
  );
}

function logText(events: readonly DeploymentEvent[]): string {
  return events
    .map((event) => `${formatDateTime(event.at)}  ${event.level.toUpperCase().padEnd(5)} ${event.message}\n`)
    .join('');
}

interface RollbackOffer {
  /** Whether the user may roll back this deployment's app on its environment, now it has ended. */
  readonly offered: boolean;
  /** The deployment the server would roll back (the app's last successful one there). */
  readonly lastSucceeded: Deployment | undefined;
  /** Whether the recent deployments were read (to tell "nothing to roll back to" from "loading"). */
  readonly known: boolean;
  readonly run: () => Promise<void>;
  readonly pending: boolean;
  readonly error: ApiError | undefined;
}

/**
 * Rollback of a finished deployment's app and environment, for its deployers. The server deploys the
 * version the app ran before its last successful deployment there; the dialog names it.
 */
function useRollback(
  deployment: Deployment | undefined,
  onRolledBack: (deployment: Deployment) => void,
): RollbackOffer {
  const { client, can } = useSession();
  const environment = deployment?.environment ?? '';
  const app = deployment?.app ?? '';
  const offered =
    deployment !== undefined &&
    can('deployer', `environment:${environment}`) &&
    isFinished(deployment) &&
    (deployment.state === 'succeeded' || deployment.state === 'failed');
  const recent = useResource(
    useCallback(
      () =>
        offered
          ? client.get<Deployment[]>('/api/deployments', { environment, app, limit: 100 })
          : Promise.resolve([]),
      [client, offered, environment, app],
    ),
  );
  const action = useAction(
    useCallback(
      () => client.post<Deployment>('/api/deployments/rollback', { environment, app }),
      [client, environment, app],
    ),
  );
  return {
    offered,
    lastSucceeded: recent.data?.find((d) => d.state === 'succeeded'),
    known: offered && recent.data !== undefined && !recent.loading,
    pending: action.pending,
    error: action.error,
    async run() {
      const result = await action.run();
      if (result.ok) onRolledBack(result.value);
    },
  };
}

function RollbackButton({ offer }: { readonly offer: RollbackOffer }) {
  if (!offer.offered) return null;
  const last = offer.lastSucceeded;
  const target = last?.previousVersion;
  const nothing = offer.known && !target;
  return (
    <ConfirmButton
      title={`Roll back ${last?.app ?? 'the app'} on ${last?.environment ?? 'the environment'}?`}
      message={
        last && target ? (
          <>
            {last.environment} goes back to {last.app} {target}, the version it ran before deployment #
            {last.number} ({last.version}), with the environment's strategy.
          </>
        ) : (
          'The server rolls back to the version that ran before the last successful deployment.'
        )
      }
      label={nothing ? 'Roll back (no earlier release to roll back to)' : undefined}
      confirmLabel="Roll back"
      disabled={offer.pending || nothing}
      onConfirm={() => void offer.run()}
    >
      {offer.pending ? 'Rolling back…' : 'Roll back'}
    </ConfirmButton>
  );
}
