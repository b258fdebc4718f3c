import { type FormEvent, useCallback, useEffect, useState } from 'react';
import type { ApiError } from '../api/api-error.ts';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { DateTime } from '../components/date-time.tsx';
import { ErrorMessage, Notice } from '../components/error-message.tsx';
import { SelectField, TextField } from '../components/field.tsx';
import { Empty, Loading, Page, Section } from '../components/page.tsx';
import { useAction } from '../components/use-action.ts';
import { useResource } from '../components/use-resource.ts';
import { formatDuration } from '../format.ts';
import { useSession } from '../session.tsx';

// What the replication API answers (src/replication/schema.ts); keep in step.

interface TableStatus {
  readonly table: string;
  readonly state: 'copying' | 'replicating' | 'resync';
  readonly rowsApplied: number;
  readonly rowsCopied: number | null;
  readonly copiedAt: string | null;
  readonly changedAt: string | null;
  readonly progress: { readonly rowsDone: number; readonly rowsTotal: number | null } | null;
}

interface LiveStatus {
  readonly desired: 'running' | 'stopped' | 'promoted';
  readonly stoppedReason: string | null;
  readonly lagSeconds: number;
  readonly pendingChanges: number;
  readonly syncedAt: string | null;
  readonly batches: number;
  readonly rowsApplied: number;
  readonly rowsPerSecond: number;
  readonly lastError: string | null;
  readonly lastErrorAt: string | null;
  readonly applier: string | null;
  readonly heartbeatAt: string | null;
  readonly applierRunning: boolean;
  readonly tables: readonly TableStatus[];
}

type Health = 'replicating' | 'copying' | 'lagging' | 'stopped' | 'error' | 'promoted' | 'unknown';

interface LinkSummary {
  readonly name: string;
  readonly state: 'running' | 'stopped' | 'promoted';
  readonly health: Health;
  readonly applier: 'embedded' | 'external';
  readonly tables: readonly string[];
  readonly lagAlertSeconds: number;
  readonly alertSince: string | null;
  readonly createdAt: string;
  readonly createdBy: string | null;
  readonly promotedAt: string | null;
  readonly status: LiveStatus | null;
  readonly statusError: string | null;
}

interface LinkDetail extends LinkSummary {
  readonly events: readonly { id: number; at: string; kind: string; message: string }[];
}

interface VerifyResult {
  readonly identical: boolean;
  readonly position: string | null;
  readonly pendingChanges: number;
  readonly tables: readonly {
    table: string;
    sourceRows: number;
    targetRows: number;
    identical: boolean;
    firstDifference?: { fromKey: string; toKey: string; sourceRows: number; targetRows: number };
  }[];
  readonly skipped: readonly string[];
}

/** How often the page reads the links again. */
const REFRESH_MS = 5_000;

const HEALTH_BADGE: Record<Health, string> = {
  replicating: 'badge badge-ok',
  copying: 'badge badge-denied',
  lagging: 'badge badge-denied',
  stopped: 'badge',
  error: 'badge badge-bad',
  promoted: 'badge',
  unknown: 'badge badge-bad',
};

function lag(status: LiveStatus | null): string {
  if (!status) return '—';
  return status.lagSeconds < 60 ? `${status.lagSeconds.toFixed(2)} s` : formatDuration(status.lagSeconds);
}

function HealthBadge({ health }: { readonly health: Health }) {
  return <span className={HEALTH_BADGE[health]}>{health}</span>;
}

/** Replication links: their health, lag and tables, and (for administrators) their operations. */
export function ReplicationPage() {
  const { client, can } = useSession();
  const links = useResource(useCallback(() => client.get<LinkSummary[]>('/api/replication/links'), [client]));
  const [selected, setSelected] = useState<string>();
  const reload = links.reload;
  useEffect(() => {
    const timer = setInterval(reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);

  return (
    <Page
      title="Replication"
      description="Trigger-based copies of primary databases to replicas on another vendor. Each link captures changes on its source and applies them on its replica in commit order; the replica stays read-only until it is promoted."
    >
      <Section
        title="Links"
        actions={
          <button type="button" onClick={links.reload} disabled={links.loading}>
            Refresh
          </button>
        }
      >
        <ErrorMessage error={links.error} title="Cannot load the replication links" />
        {links.data === undefined ? (
          links.loading ? (
            <Loading what="replication links" />
          ) : null
        ) : links.data.length === 0 ? (
          <Empty>
            No replication links yet.{' '}
            {can('admin') ? 'Create one below, or with `slipway replication create`.' : ''}
          </Empty>
        ) : (
          <LinksTable links={links.data} selected={selected} onSelect={setSelected} />
        )}
      </Section>
      {selected ? (
        <LinkDetails
          key={selected}
          name={selected}
          admin={can('admin')}
          onChanged={links.reload}
          onDropped={() => {
            setSelected(undefined);
            links.reload();
          }}
        />
      ) : null}
      {can('admin') ? (
        <CreateLinkForm
          onCreated={(name) => {
            links.reload();
            setSelected(name);
          }}
        />
      ) : null}
    </Page>
  );
}

function LinksTable({
  links,
  selected,
  onSelect,
}: {
  readonly links: readonly LinkSummary[];
  readonly selected: string | undefined;
  readonly onSelect: (name: string) => void;
}) {
  return (
    <div className="table-scroll">
      <table>
        <thead>
          <tr>
            <th scope="col">Link</th>
            <th scope="col">Health</th>
            <th scope="col">Lag</th>
            <th scope="col">Waiting</th>
            <th scope="col">Rows/s</th>
            <th scope="col">Tables</th>
            <th scope="col">Last error</th>
          </tr>
        </thead>
        <tbody>
          {links.map((link) => (
            <tr key={link.name} className={link.name === selected ? 'row-marked' : undefined}>
              <th scope="row">
                <button type="button" onClick={() => onSelect(link.name)}>
                  {link.name}
                </button>
              </th>
              <td>
                <HealthBadge health={link.health} />
                {link.alertSince ? (
                  <span className="badge badge-bad" title={`Lag above ${link.lagAlertSeconds} s`}>
                    {' '}
                    alert
                  </span>
                ) : null}
              </td>
              <td>{lag(link.status)}</td>
              <td>{link.status?.pendingChanges ?? '—'}</td>
              <td>{link.status?.rowsPerSecond ?? '—'}</td>
              <td>{link.tables.length}</td>
              <td className="cell-details">{link.status?.lastError ?? link.statusError ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function LinkDetails({
  name,
  admin,
  onChanged,
  onDropped,
}: {
  readonly name: string;
  readonly admin: boolean;
  readonly onChanged: () => void;
  readonly onDropped: () => void;
}) {
  const { client } = useSession();
  const path = `/api/replication/links/${encodeURIComponent(name)}`;
  const link = useResource(useCallback(() => client.get<LinkDetail>(path), [client, path]));
  const reload = link.reload;
  useEffect(() => {
    const timer = setInterval(reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);
  const [notice, setNotice] = useState<string>();
  const [verified, setVerified] = useState<VerifyResult>();
  const post = useAction(
    useCallback(
      (action: string, body?: unknown) => client.post<unknown>(`${path}/${action}`, body),
      [client, path],
    ),
  );
  const drop = useAction(useCallback(() => client.delete<unknown>(path), [client, path]));

  const act = async (action: string, done: string, body?: unknown) => {
    setNotice(undefined);
    const outcome = await post.run(action, body);
    if (!outcome.ok) return;
    if (action === 'verify') setVerified(outcome.value as VerifyResult);
    setNotice(done);
    link.reload();
    onChanged();
  };

  const data = link.data;
  const status = data?.status ?? null;
  return (
    <Section
      title={`Link "${name}"`}
      actions={
        <button type="button" onClick={link.reload} disabled={link.loading}>
          Refresh
        </button>
      }
    >
      <ErrorMessage error={link.error} title="Cannot load the link" />
      <Notice>{notice}</Notice>
      <ErrorMessage error={(post.error ?? drop.error) as ApiError | undefined} title="The operation failed" />
      {!data ? (
        link.loading ? (
          <Loading what={`link "${name}"`} />
        ) : null
      ) : (
        <>
          <dl className="facts">
            <dt>Health</dt>
            <dd>
              <HealthBadge health={data.health} /> ({data.state}, applier {data.applier})
            </dd>
            {status?.stoppedReason ? (
              <>
                <dt>Stopped</dt>
                <dd>{status.stoppedReason}</dd>
              </>
            ) : null}
            <dt>Lag</dt>
            <dd>
              {lag(status)} — {status?.pendingChanges ?? '?'} changes waiting (alert above{' '}
              {data.lagAlertSeconds} s
              {data.alertSince ? (
                <>
                  ; alerting since <DateTime value={data.alertSince} />
                </>
              ) : null}
              )
            </dd>
            <dt>Throughput</dt>
            <dd>
              {status
                ? `${status.rowsPerSecond} rows/s; ${status.rowsApplied} rows in ${status.batches} batches`
                : '—'}
            </dd>
            <dt>Applier</dt>
            <dd>
              {status ? (
                <>
                  {status.applierRunning ? 'running' : 'not running'}
                  {status.applier ? ` on ${status.applier}` : ''}
                  {status.heartbeatAt ? (
                    <>
                      {' '}
                      (last report <DateTime value={status.heartbeatAt} />)
                    </>
                  ) : null}
                </>
              ) : (
                (data.statusError ?? '—')
              )}
            </dd>
            <dt>Last error</dt>
            <dd>
              {status?.lastError ? (
                <>
                  {status.lastError}
                  {status.lastErrorAt ? (
                    <>
                      {' '}
                      (<DateTime value={status.lastErrorAt} />)
                    </>
                  ) : null}
                </>
              ) : (
                '—'
              )}
            </dd>
            <dt>Created</dt>
            <dd>
              <DateTime value={data.createdAt} /> by {data.createdBy ?? 'unknown'}
              {data.promotedAt ? (
                <>
                  ; promoted <DateTime value={data.promotedAt} />
                </>
              ) : null}
            </dd>
          </dl>
          {admin ? (
            <div className="button-row">
              {data.state === 'promoted' ? (
                <ConfirmButton
                  title={`Replicate "${name}" the other way?`}
                  message="The promoted replica becomes the source. The old primary's tables are copied again from it (whatever only the old primary had is discarded) and become read-only."
                  confirmLabel="Reverse the link"
                  disabled={post.pending}
                  onConfirm={() => void act('reverse', `Link "${name}" now replicates the other way`)}
                >
                  Reverse
                </ConfirmButton>
              ) : (
                <>
                  {data.state === 'stopped' || status?.desired === 'stopped' ? (
                    <button
                      type="button"
                      className="button-primary"
                      disabled={post.pending}
                      onClick={() => void act('start', `Link "${name}" started`)}
                    >
                      Start
                    </button>
                  ) : (
                    <button
                      type="button"
                      disabled={post.pending}
                      onClick={() => void act('stop', `Link "${name}" stopped`)}
                    >
                      Stop
                    </button>
                  )}
                  <button
                    type="button"
                    disabled={post.pending}
                    onClick={() => void act('verify', `Verified link "${name}"`, {})}
                  >
                    {post.pending ? 'Working…' : 'Verify'}
                  </button>
                  <ConfirmButton
                    title={`Promote the replica of "${name}"?`}
                    message="The link stops and the replica becomes writable, with its sequences moved past every value in use. Do this when the primary is gone or being retired; applications must then write to the replica."
                    confirmLabel="Promote the replica"
                    disabled={post.pending}
                    onConfirm={() => void act('promote', `The replica of "${name}" is promoted and writable`)}
                  >
                    Promote
                  </ConfirmButton>
                </>
              )}
              <ConfirmButton
                title={`Drop link "${name}"?`}
                message="Its triggers, capture log and state are removed from both databases. The data stays."
                confirmLabel="Drop the link"
                disabled={drop.pending}
                onConfirm={() =>
                  void drop.run().then((outcome) => {
                    if (outcome.ok) onDropped();
                  })
                }
              >
                Drop
              </ConfirmButton>
            </div>
          ) : null}
          {verified ? <VerifyReport result={verified} /> : null}
          <TablesTable
            tables={status?.tables ?? []}
            onResync={
              admin && data.state !== 'promoted'
                ? (table) => void act('resync', `Copying "${table}" again`, { table })
                : undefined
            }
          />
          <h3>Recent events</h3>
          {data.events.length === 0 ? (
            <Empty>No events yet.</Empty>
          ) : (
            <ul>
              {data.events.slice(0, 20).map((event) => (
                <li key={event.id}>
                  <DateTime value={event.at} /> <code>{event.kind}</code> {event.message}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </Section>
  );
}

function TablesTable({
  tables,
  onResync,
}: {
  readonly tables: readonly TableStatus[];
  readonly onResync: ((table: string) => void) | undefined;
}) {
  if (tables.length === 0) return null;
  return (
    <div className="table-scroll">
      <table>
        <caption>Tables</caption>
        <thead>
          <tr>
            <th scope="col">Table</th>
            <th scope="col">State</th>
            <th scope="col">Rows applied</th>
            <th scope="col">Copy</th>
            <th scope="col">Last change</th>
            {onResync ? <th scope="col">Actions</th> : null}
          </tr>
        </thead>
        <tbody>
          {tables.map((table) => (
            <tr key={table.table}>
              <th scope="row">{table.table}</th>
              <td>
                <span className={table.state === 'replicating' ? 'badge badge-ok' : 'badge badge-denied'}>
                  {table.state}
                </span>
              </td>
              <td>{table.rowsApplied}</td>
              <td>
                {table.progress ? (
                  <progress
                    max={table.progress.rowsTotal ?? undefined}
                    value={table.progress.rowsDone}
                    aria-label={`Copy of ${table.table}`}
                  >
                    {table.progress.rowsDone} rows
                  </progress>
                ) : table.rowsCopied === null ? (
                  '—'
                ) : (
                  `${table.rowsCopied} rows copied`
                )}
              </td>
              <td>{table.changedAt ? <DateTime value={table.changedAt} /> : '—'}</td>
              {onResync ? (
                <td>
                  <button
                    type="button"
                    aria-label={`Copy table ${table.table} again`}
                    disabled={table.state !== 'replicating'}
                    onClick={() => onResync(table.table)}
                  >
                    Resync
                  </button>
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function VerifyReport({ result }: { readonly result: VerifyResult }) {
  const differing = result.tables.filter((t) => !t.identical);
  return (
    <div
      className={result.identical ? 'message message-success' : 'message message-error'}
      role="status"
      data-testid="verify-result"
    >
      <p className="message-title">
        {result.identical
          ? `The replica is identical to the source (${result.tables.length} tables)`
          : `${differing.length} of ${result.tables.length} tables differ`}
      </p>
      {differing.map((t) => (
        <p key={t.table}>
          {t.table}: source {t.sourceRows} rows, replica {t.targetRows} rows; first difference from key{' '}
          <code>{t.firstDifference?.fromKey}</code> to <code>{t.firstDifference?.toKey}</code>
        </p>
      ))}
      {result.pendingChanges ? (
        <p className="message-hint">
          The link is stopped: {result.pendingChanges} changes are not applied yet.
        </p>
      ) : null}
      {result.skipped.length ? (
        <p className="message-hint">Skipped while being copied: {result.skipped.join(', ')}</p>
      ) : null}
    </div>
  );
}

function CreateLinkForm({ onCreated }: { readonly onCreated: (name: string) => void }) {
  const { client } = useSession();
  const empty = {
    name: '',
    source: '',
    target: '',
    tables: '',
    schema: 'public',
    applier: 'embedded',
    lag: '60',
  };
  const [draft, setDraft] = useState(empty);
  const create = useAction(
    useCallback((body: unknown) => client.post<LinkSummary>('/api/replication/links', body), [client]),
  );
  const errors = create.error?.fieldErrors() ?? {};
  const change = (field: keyof typeof empty) => (event: { target: { value: string } }) =>
    setDraft((current) => ({ ...current, [field]: event.target.value }));
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const tables = draft.tables
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    const outcome = await create.run({
      name: draft.name.trim(),
      source: draft.source.trim(),
      target: draft.target.trim(),
      ...(tables.length > 0 ? { tables } : { schema: draft.schema.trim() }),
      applier: draft.applier,
      lagAlertSeconds: Number(draft.lag),
    });
    if (outcome.ok) {
      setDraft(empty);
      onCreated(outcome.value.name);
    }
  };
  return (
    <Section title="Create a link">
      <form onSubmit={(event) => void submit(event)} aria-label="Create a replication link">
        <ErrorMessage error={create.error} title="Cannot create the link" />
        <TextField
          label="Name"
          name="name"
          required
          autoComplete="off"
          placeholder="production-standby"
          value={draft.name}
          onChange={change('name')}
          error={errors.name}
        />
        <TextField
          label="Source connection string"
          name="source"
          type="password"
          required
          autoComplete="off"
          help="postgres://user:password@host:5432/db?sslmode=verify-full — stored encrypted, never shown again"
          value={draft.source}
          onChange={change('source')}
          error={errors.source}
        />
        <TextField
          label="Replica connection string"
          name="target"
          type="password"
          required
          autoComplete="off"
          help="The replica's database; its tables must exist with the same columns"
          value={draft.target}
          onChange={change('target')}
          error={errors.target}
        />
        <TextField
          label="Tables"
          name="tables"
          autoComplete="off"
          help="Comma-separated SCHEMA.TABLE names; leave empty to replicate every table of the schema below"
          value={draft.tables}
          onChange={change('tables')}
          error={errors.tables}
        />
        <TextField
          label="Schema"
          name="schema"
          autoComplete="off"
          value={draft.schema}
          onChange={change('schema')}
          error={errors.schema}
        />
        <SelectField
          label="Applier"
          name="applier"
          options={[
            { value: 'embedded', label: 'Embedded (this control plane applies)' },
            { value: 'external', label: 'External (`slipway replication apply` next to the replica)' },
          ]}
          value={draft.applier}
          onChange={change('applier')}
        />
        <TextField
          label="Lag alert (seconds)"
          name="lag"
          type="number"
          min={1}
          value={draft.lag}
          onChange={change('lag')}
          error={errors.lagAlertSeconds}
        />
        <div className="button-row">
          <button type="submit" className="button-primary" disabled={create.pending}>
            {create.pending ? 'Creating…' : 'Create link'}
          </button>
        </div>
      </form>
    </Section>
  );
}
