import { useCallback, useEffect, useState } from 'react';
import { DateTime } from '../components/date-time.tsx';
import { ErrorMessage, Notice } from '../components/error-message.tsx';
import { Empty, Loading, Page, Section } from '../components/page.tsx';
import { useAction } from '../components/use-action.ts';
import { useResource } from '../components/use-resource.ts';
import { useSession } from '../session.tsx';

/** One line of GET /api/environments. */
interface EnvironmentSummary {
  readonly name: string;
  readonly status: string;
  readonly provider: string | null;
  readonly hosts: number;
  readonly healthyHosts: number;
  readonly appliedCommit: string | null;
  readonly appliedAt: string | null;
  readonly waitingPlan: string | null;
}

interface Change {
  readonly action: 'create' | 'update' | 'delete';
  readonly resource: string;
  readonly description: string;
  readonly fields: readonly { readonly path: string; readonly before: unknown; readonly after: unknown }[];
}

interface Plan {
  readonly id: string;
  readonly status: string;
  readonly kind: string;
  readonly trigger: string;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly commit: string | null;
  readonly summary: { readonly create: number; readonly update: number; readonly delete: number };
  readonly changes: readonly Change[];
  readonly problems: readonly {
    readonly file: string;
    readonly path: string;
    readonly message: string;
    readonly fix: string;
  }[];
  readonly error: string | null;
}

interface Apply {
  readonly id: string;
  readonly status: string;
  readonly requestedBy: string;
  readonly requestedAt: string;
  readonly finishedAt: string | null;
  readonly commit: string | null;
  readonly error: string | null;
  readonly steps: readonly {
    readonly at: string;
    readonly resource: string;
    readonly action: string;
    readonly status: string;
    readonly message: string;
  }[];
}

interface ProcessView {
  readonly name: string;
  readonly state: string;
  readonly hostPid: number | null;
  readonly restarts: number;
  readonly backoffMs: number;
  readonly health: { readonly status: string; readonly message: string | null };
}

interface HostView {
  readonly name: string;
  readonly services: readonly string[];
  readonly status: string;
  readonly problems: readonly string[];
  readonly agent: {
    readonly connected: boolean;
    readonly pid: number | null;
    readonly version: string | null;
    readonly lastReportAt: string | null;
  };
  readonly revision: { readonly desired: number; readonly applied: number | null };
  readonly processes: readonly ProcessView[];
  readonly metrics: {
    readonly cpuPercent: number | null;
    readonly memory: { readonly usedPercent: number };
  } | null;
}

/** GET /api/environments/:name. */
interface EnvironmentView {
  readonly name: string;
  readonly status: string;
  readonly problems: readonly string[];
  readonly provider: { readonly kind: string } | null;
  readonly file: string | null;
  readonly appliedCommit: string | null;
  readonly appliedAt: string | null;
  readonly isolation: { readonly isolated: boolean; readonly description: string } | null;
  readonly hosts: readonly HostView[];
  readonly loadBalancer: {
    readonly status: string;
    readonly endpoints: readonly { readonly port: number; readonly url: string }[];
    readonly servers: readonly { readonly name: string; readonly status: string; readonly weight: number }[];
  } | null;
  readonly database: {
    readonly status: string;
    readonly host: string | null;
    readonly port: number | null;
    readonly databases: readonly string[];
    readonly roles: readonly string[];
  } | null;
  readonly lastPlan: Plan | null;
  readonly waitingPlan: Plan | null;
  readonly lastApply: Apply | null;
  readonly canApply: boolean;
}

const REFRESH_MS = 3000;

function statusBadge(status: string) {
  const good = status === 'healthy' || status === 'succeeded' || status === 'applied' || status === 'UP';
  const bad = ['unhealthy', 'failed', 'invalid', 'DOWN'].includes(status);
  return <span className={`badge ${good ? 'badge-ok' : bad ? 'badge-bad' : 'badge-denied'}`}>{status}</span>;
}

const short = (commit: string | null) => (commit ? commit.slice(0, 12) : '—');

/** Environments: each environment, its hosts, services, processes and health, the last plan and apply, and the admin's apply button. */
export function EnvironmentsPage() {
  const { client } = useSession();
  const list = useResource(
    useCallback(() => client.get<EnvironmentSummary[]>('/api/environments'), [client]),
  );
  const [selected, setSelected] = useState<string>();
  const current = selected ?? list.data?.[0]?.name;
  return (
    <Page
      title="Environments"
      description={
        <>
          Environments are defined as code in the infrastructure repository (<code>environments/NAME.ts</code>
          ). A merge plans every environment that changed; integration applies on its own, the others wait for
          one of their administrators.
        </>
      }
    >
      <Section
        title="All environments"
        actions={
          <button type="button" onClick={list.reload} disabled={list.loading}>
            Refresh
          </button>
        }
      >
        <ErrorMessage error={list.error} title="Cannot load the environments" />
        {list.data === undefined ? (
          list.loading ? (
            <Loading what="environments" />
          ) : null
        ) : list.data.length === 0 ? (
          <Empty>
            No environment yet. A platform administrator tracks the infrastructure repository with{' '}
            <code>slipway env source set PATH_OR_URL --branch main</code>.
          </Empty>
        ) : (
          <div className="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Environment</th>
                  <th scope="col">Status</th>
                  <th scope="col">Hosts healthy</th>
                  <th scope="col">Applied commit</th>
                  <th scope="col">Waiting plan</th>
                  <th scope="col">Details</th>
                </tr>
              </thead>
              <tbody>
                {list.data.map((environment) => (
                  <tr key={environment.name} aria-current={environment.name === current ? 'true' : undefined}>
                    <th scope="row">{environment.name}</th>
                    <td>{statusBadge(environment.status)}</td>
                    <td>
                      {environment.healthyHosts} of {environment.hosts}
                    </td>
                    <td>
                      <code>{short(environment.appliedCommit)}</code>
                    </td>
                    <td>{environment.waitingPlan ? 'waits for an admin' : '—'}</td>
                    <td>
                      <button
                        type="button"
                        onClick={() => setSelected(environment.name)}
                        aria-label={`Show ${environment.name}`}
                      >
                        Show
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
      {current ? <EnvironmentDetails key={current} name={current} onChanged={list.reload} /> : null}
    </Page>
  );
}

function EnvironmentDetails({ name, onChanged }: { readonly name: string; readonly onChanged: () => void }) {
  const { client } = useSession();
  const path = `/api/environments/${encodeURIComponent(name)}`;
  const view = useResource(useCallback(() => client.get<EnvironmentView>(path), [client, path]));
  const [notice, setNotice] = useState<string>();
  useEffect(() => {
    const timer = setInterval(view.reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [view.reload]);
  const apply = useAction(
    useCallback(
      (planId?: string) => client.post<Apply>(`${path}/apply`, planId ? { planId } : {}),
      [client, path],
    ),
  );
  const run = async (planId?: string) => {
    setNotice(undefined);
    const result = await apply.run(planId);
    if (result.ok) {
      setNotice(
        planId ? `Approved: apply ${result.value.id} is queued.` : `Apply ${result.value.id} is queued.`,
      );
      view.reload();
      onChanged();
    }
  };
  const data = view.data;
  return (
    <>
      <Section
        title={`Environment "${name}"`}
        actions={
          data?.canApply ? (
            <>
              {data.waitingPlan ? (
                <button
                  type="button"
                  className="button-primary"
                  disabled={apply.pending}
                  onClick={() => void run(data.waitingPlan!.id)}
                >
                  Approve and apply the waiting plan
                </button>
              ) : null}
              <button type="button" disabled={apply.pending} onClick={() => void run()}>
                Apply the tracked branch now
              </button>
            </>
          ) : null
        }
      >
        <Notice>{notice}</Notice>
        <ErrorMessage error={apply.error} title={`Cannot apply "${name}"`} />
        <ErrorMessage error={view.error} title={`Cannot load "${name}"`} />
        {data === undefined ? (
          <Loading what={`environment "${name}"`} />
        ) : (
          <>
            <dl className="facts">
              <dt>Status</dt>
              <dd>{statusBadge(data.status)}</dd>
              <dt>Provider</dt>
              <dd>{data.provider?.kind ?? '—'}</dd>
              <dt>Definition</dt>
              <dd>
                <code>{data.file ?? '—'}</code> at <code>{short(data.appliedCommit)}</code>, applied{' '}
                <DateTime value={data.appliedAt} />
              </dd>
              <dt>Isolation</dt>
              <dd>
                {data.isolation
                  ? `${data.isolation.isolated ? '' : 'NOT ISOLATED: '}${data.isolation.description}`
                  : '—'}
              </dd>
              <dt>Load balancer</dt>
              <dd>
                {data.loadBalancer ? (
                  <>
                    {statusBadge(data.loadBalancer.status)}{' '}
                    {data.loadBalancer.endpoints.map((e) => `port ${e.port} → ${e.url}`).join(', ')} (
                    {data.loadBalancer.servers
                      .map((s) => `${s.name} ${s.status}, weight ${s.weight}`)
                      .join('; ') || 'no servers'}
                    )
                  </>
                ) : (
                  'none'
                )}
              </dd>
              <dt>Database</dt>
              <dd>
                {data.database ? (
                  <>
                    {statusBadge(data.database.status)} PostgreSQL on {data.database.host}:
                    {data.database.port}, databases {data.database.databases.join(', ')}, roles{' '}
                    {data.database.roles.join(', ')}
                  </>
                ) : (
                  'none'
                )}
              </dd>
            </dl>
            {data.problems.length > 0 ? (
              <div className="message message-error" role="status">
                <p className="message-title">Not healthy</p>
                <ul>
                  {data.problems.map((problem) => (
                    <li key={problem}>{problem}</li>
                  ))}
                </ul>
              </div>
            ) : null}
          </>
        )}
      </Section>
      {data ? <HostsSection hosts={data.hosts} /> : null}
      {data?.waitingPlan ? (
        <PlanSection title="Plan waiting for an administrator" plan={data.waitingPlan} />
      ) : null}
      {data?.lastPlan && data.lastPlan.id !== data.waitingPlan?.id ? (
        <PlanSection title="Last plan" plan={data.lastPlan} />
      ) : null}
      {data?.lastApply ? <ApplySection apply={data.lastApply} /> : null}
    </>
  );
}

function HostsSection({ hosts }: { readonly hosts: readonly HostView[] }) {
  return (
    <Section title="Hosts, services and processes">
      {hosts.length === 0 ? (
        <Empty>No hosts: the environment has not been applied.</Empty>
      ) : (
        <div className="table-scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Host</th>
                <th scope="col">Services</th>
                <th scope="col">Health</th>
                <th scope="col">Agent</th>
                <th scope="col">Processes</th>
                <th scope="col">CPU / memory</th>
              </tr>
            </thead>
            <tbody>
              {hosts.map((host) => (
                <tr key={host.name}>
                  <th scope="row">{host.name}</th>
                  <td>{host.services.join(', ')}</td>
                  <td>
                    {statusBadge(host.status)}
                    {host.problems.length > 0 ? (
                      <div className="message-hint">{host.problems.join('; ')}</div>
                    ) : null}
                  </td>
                  <td>
                    {host.agent.connected ? 'connected' : 'not connected'}
                    {host.agent.pid ? ` (pid ${host.agent.pid})` : ''}, revision{' '}
                    {host.revision.applied ?? '—'} of {host.revision.desired}
                  </td>
                  <td>
                    {host.processes.length === 0
                      ? '—'
                      : host.processes.map((p) => (
                          <div key={p.name}>
                            {p.name}: {p.state}
                            {p.state === 'backoff' ? ` (next start in ${p.backoffMs} ms)` : ''}, health{' '}
                            {p.health.status}, restarts {p.restarts}
                            {p.hostPid ? `, pid ${p.hostPid}` : ''}
                          </div>
                        ))}
                  </td>
                  <td>
                    {host.metrics
                      ? `${host.metrics.cpuPercent ?? '—'}% / ${host.metrics.memory.usedPercent}%`
                      : '—'}
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

function PlanSection({ title, plan }: { readonly title: string; readonly plan: Plan }) {
  return (
    <Section title={title}>
      <p>
        {statusBadge(plan.status)} {plan.kind} plan by {plan.createdBy} ({plan.trigger}){' '}
        <DateTime value={plan.createdAt} />, commit <code>{short(plan.commit)}</code>: {plan.summary.create}{' '}
        to create, {plan.summary.update} to change, {plan.summary.delete} to remove.
      </p>
      {plan.error ? <p className="message message-error">{plan.error}</p> : null}
      {plan.problems.length > 0 ? (
        <ul>
          {plan.problems.map((p) => (
            <li key={`${p.file}|${p.path}|${p.message}`}>
              <code>{p.file}</code> <code>{p.path}</code>: {p.message}. Fix: {p.fix}
            </li>
          ))}
        </ul>
      ) : null}
      {plan.changes.length > 0 ? (
        <ul className="plan-changes">
          {plan.changes.map((change) => (
            <li key={change.resource}>
              <code>{change.action === 'create' ? '+' : change.action === 'delete' ? '−' : '~'}</code>{' '}
              <code>{change.resource}</code> {change.description}
              {change.fields.length > 0 ? (
                <ul>
                  {change.fields.map((field) => (
                    <li key={field.path}>
                      <code>{field.path}</code>: {JSON.stringify(field.before)} →{' '}
                      {JSON.stringify(field.after)}
                    </li>
                  ))}
                </ul>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
    </Section>
  );
}

function ApplySection({ apply }: { readonly apply: Apply }) {
  return (
    <Section title="Last apply">
      <p>
        {statusBadge(apply.status)} requested by {apply.requestedBy} <DateTime value={apply.requestedAt} />,
        commit <code>{short(apply.commit)}</code>
        {apply.finishedAt ? (
          <>
            , finished <DateTime value={apply.finishedAt} />
          </>
        ) : null}
        {apply.error ? `: ${apply.error}` : ''}
      </p>
      <ol className="apply-steps">
        {apply.steps
          .filter((step) => step.action !== 'log')
          .slice(-15)
          .map((step) => (
            <li key={`${step.at}|${step.resource}|${step.action}|${step.status}|${step.message}`}>
              <DateTime value={step.at} /> {step.status} {step.resource} {step.action}: {step.message}
            </li>
          ))}
      </ol>
    </Section>
  );
}
