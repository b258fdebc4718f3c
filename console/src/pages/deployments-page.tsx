import { useCallback, useEffect, useId, useState } from 'react';
import { holdsRoleAnywhere } from '../access.ts';
import { DateTime } from '../components/date-time.tsx';
import { DeployForm } from '../components/deployments/deploy-form.tsx';
import { DeploymentDetails } from '../components/deployments/deployment-details.tsx';
import { DeploymentStateBadge } from '../components/deployments/deployment-state-badge.tsx';
import { type Deployment, describeStrategy, isFinished } from '../components/deployments/types.ts';
import { ErrorMessage, Notice } from '../components/error-message.tsx';
import { SelectField } from '../components/field.tsx';
import { Empty, Loading, Page, Section } from '../components/page.tsx';
import { useQueryParam, withQuery } from '../components/pipelines/use-query-param.ts';
import { useResource } from '../components/use-resource.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import '../components/pipelines/pipelines.css';
import '../components/deployments/deployments.css';

/** How often the list is read again while one of its deployments runs. */
const LIST_REFRESH_MS = 3000;

/** Deployments: the list (by environment), the Deploy form, and one deployment followed live. */
export function DeploymentsPage() {
  const { client, can, whoami } = useSession();
  const [selected, select] = useQueryParam('deployment');
  const [environment, setEnvironment] = useQueryParam('environment');
  const [deploying, setDeploying] = useState(false);
  const [notice, setNotice] = useState<string>();
  // Bumped when this page starts a deployment, so the list shows it at once.
  const [started, setStarted] = useState(0);
  const environments = useResource(
    useCallback(() => client.get<{ name: string }[]>('/api/environments'), [client]),
  );
  const names = (environments.data ?? []).map((e) => e.name);
  const deployable = names.filter((name) => can('deployer', `environment:${name}`));
  const number = selected && /^\d+$/.test(selected) ? Number(selected) : undefined;

  const opened = (deployment: Deployment, message: string) => {
    setDeploying(false);
    setNotice(message);
    setStarted((n) => n + 1);
    select(String(deployment.number));
  };
  return (
    <Page
      title="Deployments"
      description="A deployment moves every host of an environment to a version of an app, with hooks, health checks and an automatic rollback when a step fails."
    >
      <Notice>{notice}</Notice>
      {deploying ? (
        <DeployForm
          environments={deployable}
          initialEnvironment={environment}
          onCancel={() => setDeploying(false)}
          onDeployed={(deployment) =>
            opened(
              deployment,
              `Deployment #${deployment.number} of ${deployment.app} ${deployment.version} to ${deployment.environment} started`,
            )
          }
        />
      ) : null}
      {number !== undefined ? (
        <DeploymentDetails
          key={number}
          number={number}
          onClose={() => select(undefined)}
          onRolledBack={(deployment) =>
            opened(
              deployment,
              `Rollback #${deployment.number} of ${deployment.app} to ${deployment.version} on ${deployment.environment} started`,
            )
          }
        />
      ) : null}
      <DeploymentList
        environment={environment}
        started={started}
        environments={names}
        onEnvironment={setEnvironment}
        deploy={{
          enabled: deployable.length > 0 && !deploying,
          reason: whyNoDeploy({
            mayDeploy: deployable.length > 0,
            holdsDeployer: holdsRoleAnywhere(whoami.grants, 'deployer'),
            environmentsKnown: environments.data !== undefined,
          }),
          open: () => {
            setNotice(undefined);
            setDeploying(true);
          },
        }}
      />
    </Page>
  );
}

/** Why the user cannot deploy, or undefined when they can. */
function whyNoDeploy(options: {
  readonly mayDeploy: boolean;
  readonly holdsDeployer: boolean;
  readonly environmentsKnown: boolean;
}): string | undefined {
  if (!options.holdsDeployer) {
    return 'Deploying needs role "deployer" on an environment; ask one of its administrators';
  }
  if (options.environmentsKnown && !options.mayDeploy) return 'No environment you deploy to exists yet';
  return undefined;
}

function DeploymentList({
  environment,
  started,
  environments,
  onEnvironment,
  deploy,
}: {
  readonly environment: string | undefined;
  /** Changes when the page started a deployment: read the list again. */
  readonly started: number;
  readonly environments: readonly string[];
  readonly onEnvironment: (environment: string | undefined) => void;
  readonly deploy: {
    readonly enabled: boolean;
    readonly reason: string | undefined;
    readonly open: () => void;
  };
}) {
  const { client } = useSession();
  const reasonId = useId();
  const list = useResource(
    useCallback(
      () => client.get<Deployment[]>('/api/deployments', { environment, limit: 100 }),
      [client, environment],
    ),
  );
  const anyRunning = list.data?.some((deployment) => !isFinished(deployment)) ?? false;
  const { reload } = list;
  useEffect(() => {
    if (started > 0) reload();
  }, [started, reload]);
  useEffect(() => {
    if (!anyRunning) return;
    const timer = setInterval(reload, LIST_REFRESH_MS);
    return () => clearInterval(timer);
  }, [anyRunning, reload]);
  const choices =
    environment && !environments.includes(environment) ? [...environments, environment] : environments;
  return (
    <Section
      title={environment ? `Deployments to ${environment}` : 'Recent deployments'}
      actions={
        <>
          <button
            type="button"
            className="button-primary"
            disabled={!deploy.enabled}
            aria-describedby={deploy.reason ? reasonId : undefined}
            onClick={deploy.open}
          >
            Deploy
          </button>
          <button type="button" onClick={list.reload} disabled={list.loading}>
            Refresh
          </button>
        </>
      }
    >
      {deploy.reason ? (
        <p id={reasonId} className="muted">
          {deploy.reason}
        </p>
      ) : null}
      <div className="filter-bar">
        <SelectField
          className="field-compact deployment-filter"
          label="Environment"
          name="environment"
          options={[{ value: '', label: 'All environments' }, ...choices]}
          value={environment ?? ''}
          onChange={(event) => onEnvironment(event.target.value || undefined)}
        />
      </div>
      <ErrorMessage error={list.error} title="Cannot load deployments" />
      {list.data === undefined ? (
        list.loading ? (
          <Loading what="deployments" />
        ) : null
      ) : list.data.length === 0 ? (
        <Empty>
          No deployments{environment ? ` to ${environment}` : ''} yet: a successful build deploys to
          integration by itself, and "Deploy" sends a version anywhere you are a deployer.
        </Empty>
      ) : (
        <div className="table-scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Deployment</th>
                <th scope="col">Environment</th>
                <th scope="col">App</th>
                <th scope="col">Version</th>
                <th scope="col">Strategy</th>
                <th scope="col">State</th>
                <th scope="col">Requested by</th>
                <th scope="col">When</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((deployment) => (
                <tr key={deployment.id}>
                  <th scope="row">
                    <Link
                      href={withQuery('/deployments', {
                        ...(environment ? { environment } : {}),
                        deployment: String(deployment.number),
                      })}
                    >
                      #{deployment.number}
                    </Link>
                  </th>
                  <td>{deployment.environment}</td>
                  <td>{deployment.app}</td>
                  <td className="mono">
                    {deployment.version}
                    {deployment.previousVersion ? (
                      <span className="muted"> (from {deployment.previousVersion})</span>
                    ) : null}
                  </td>
                  <td>{describeStrategy(deployment.strategy)}</td>
                  <td>
                    <DeploymentStateBadge state={deployment.state} />
                  </td>
                  <td>
                    {deployment.requestedBy}
                    {deployment.trigger === 'manual' ? '' : ` (${deployment.trigger})`}
                  </td>
                  <td>
                    <DateTime value={deployment.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
