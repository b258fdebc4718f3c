import { useCallback, useState } from 'react';
import { DateTime } from '../components/date-time.tsx';
import { ErrorMessage, Notice } from '../components/error-message.tsx';
import { TextField } from '../components/field.tsx';
import { Empty, Loading, Page, Section } from '../components/page.tsx';
import { RunLog, useLiveRun } from '../components/pipelines/run-log.tsx';
import { StateBadge } from '../components/pipelines/state-badge.tsx';
import type { QueuedRun, Run } from '../components/pipelines/types.ts';
import { useQueryParam, withQuery } from '../components/pipelines/use-query-param.ts';
import { useAction } from '../components/use-action.ts';
import { useResource } from '../components/use-resource.ts';
import { formatDuration } from '../format.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import '../components/pipelines/pipelines.css';

function handleOf(run: Pick<Run, 'app' | 'number'>): string {
  return `${run.app}/${run.number}`;
}

function parseHandle(handle: string | undefined): { app: string; number: number } | undefined {
  const match = /^([a-z][a-z0-9-]*)\/(\d+)$/.exec(handle ?? '');
  return match ? { app: match[1]!, number: Number(match[2]) } : undefined;
}

function took(run: Pick<Run, 'startedAt' | 'finishedAt'>): string {
  if (!run.startedAt) return '—';
  const end = run.finishedAt ? Date.parse(run.finishedAt) : Date.now();
  return formatDuration((end - Date.parse(run.startedAt)) / 1000);
}

/** Runs: the list (by app), and one run with its steps and its log live. */
export function RunsPage() {
  const [selected, select] = useQueryParam('run');
  const [app, setApp] = useQueryParam('app');
  const run = parseHandle(selected);
  return (
    <Page
      title="Runs"
      description="Each push to an app's tracked branch runs its pipeline: checkout, build, unit tests, package, publish."
    >
      {run ? <RunDetails app={run.app} number={run.number} onClose={() => select(undefined)} /> : null}
      <RunList app={app} onApp={setApp} />
    </Page>
  );
}

function RunList({
  app,
  onApp,
}: {
  readonly app: string | undefined;
  readonly onApp: (app: string | undefined) => void;
}) {
  const { client } = useSession();
  const [filter, setFilter] = useState(app ?? '');
  const runs = useResource(
    useCallback(() => client.get<Run[]>('/api/runs', { app, limit: 100 }), [client, app]),
  );
  return (
    <Section
      title={app ? `Runs of ${app}` : 'Recent runs'}
      actions={
        <button type="button" onClick={runs.reload} disabled={runs.loading}>
          Refresh
        </button>
      }
    >
      <form
        className="filter-bar"
        aria-label="Filter runs"
        onSubmit={(event) => {
          event.preventDefault();
          onApp(filter.trim() || undefined);
        }}
      >
        <TextField
          className="field-compact"
          label="App"
          name="app"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
        <button type="submit">Show</button>
      </form>
      <ErrorMessage error={runs.error} title="Cannot load runs" />
      {runs.data === undefined ? (
        runs.loading ? (
          <Loading what="runs" />
        ) : null
      ) : runs.data.length === 0 ? (
        <Empty>No runs yet: push to an app's tracked branch, or press "Build now" on the Apps page.</Empty>
      ) : (
        <div className="table-scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">State</th>
                <th scope="col">Commit</th>
                <th scope="col">Version</th>
                <th scope="col">Trigger</th>
                <th scope="col">Started</th>
                <th scope="col">Took</th>
              </tr>
            </thead>
            <tbody>
              {runs.data.map((run) => (
                <tr key={run.id}>
                  <th scope="row">
                    <Link href={withQuery('/runs', { ...(app ? { app } : {}), run: handleOf(run) })}>
                      {handleOf(run)}
                    </Link>
                  </th>
                  <td>
                    <StateBadge state={run.state} />
                  </td>
                  <td className="mono">
                    {run.commit.slice(0, 12)} <span className="muted">{run.branch}</span>
                  </td>
                  <td className="mono">{run.version ?? '—'}</td>
                  <td>
                    {run.trigger}
                    {run.triggeredBy ? ` (${run.triggeredBy})` : ''}
                  </td>
                  <td>
                    <DateTime value={run.startedAt ?? run.createdAt} />
                  </td>
                  <td>{took(run)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

function RunDetails({
  app,
  number,
  onClose,
}: {
  readonly app: string;
  readonly number: number;
  readonly onClose: () => void;
}) {
  const { client, can } = useSession();
  const live = useLiveRun(app, number);
  const [notice, setNotice] = useState<string>();
  const path = `/api/apps/${encodeURIComponent(app)}/runs/${number}`;
  const cancel = useAction(useCallback(() => client.post<Run>(`${path}/cancel`), [client, path]));
  const rerun = useAction(useCallback(() => client.post<QueuedRun>(`${path}/rerun`), [client, path]));
  const run = live.run;
  const active = run?.state === 'queued' || run?.state === 'running';
  return (
    <Section
      title={`Run ${app}/${number}`}
      actions={
        <>
          {can('developer') && active ? (
            <button
              type="button"
              className="button-danger"
              disabled={cancel.pending || run?.cancelRequested}
              onClick={async () => {
                const result = await cancel.run();
                if (result.ok)
                  setNotice(result.value.state === 'cancelled' ? 'Cancelled' : 'Asked the run to stop');
              }}
            >
              {run?.cancelRequested ? 'Stopping…' : 'Cancel'}
            </button>
          ) : null}
          {can('developer') && run && !active ? (
            <button
              type="button"
              disabled={rerun.pending}
              onClick={async () => {
                const result = await rerun.run();
                if (result.ok) setNotice(result.value.message);
              }}
            >
              Re-run
            </button>
          ) : null}
          <button type="button" onClick={onClose}>
            Close
          </button>
        </>
      }
    >
      <Notice>{notice}</Notice>
      <ErrorMessage error={cancel.error} title="Cannot cancel the run" />
      <ErrorMessage error={rerun.error} title="Cannot re-run" />
      {run ? (
        <>
          <dl className="facts">
            <dt>State</dt>
            <dd>
              <StateBadge state={run.state} /> {live.live ? <span className="muted">(live)</span> : null}
              {run.error ? <> {run.error}</> : null}
            </dd>
            <dt>Commit</dt>
            <dd className="mono">
              {run.commit} on {run.branch}
              {run.supersededCommits.length > 0
                ? ` (also includes ${run.supersededCommits.length} earlier push(es))`
                : ''}
            </dd>
            <dt>Version</dt>
            <dd className="mono">
              {run.version && run.state === 'succeeded' ? (
                <Link href={withQuery('/artifacts', { app: run.app, version: run.version })}>
                  {run.version}
                </Link>
              ) : (
                (run.version ?? '—')
              )}
            </dd>
            <dt>Trigger</dt>
            <dd>
              {run.trigger}
              {run.triggeredBy ? ` by ${run.triggeredBy}` : ''}
              {run.rerunOf ? ` (re-run of ${app}/${run.rerunOf})` : ''}
              {run.attempt > 1 ? `, attempt ${run.attempt}` : ''}
            </dd>
          </dl>
          <ol className="run-steps" aria-label="Steps">
            {run.steps.map((step) => (
              <li key={step.position} title={step.error ?? undefined}>
                <span>{step.title}</span> <StateBadge state={step.state} />
              </li>
            ))}
          </ol>
        </>
      ) : live.live ? (
        <Loading what="the run" />
      ) : null}
      {live.error ? <p className="muted">{live.error}</p> : null}
      <RunLog text={live.text} label={`Log of run ${app}/${number}`} />
    </Section>
  );
}
