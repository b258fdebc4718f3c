import { type FormEvent, useCallback, useState } from 'react';
import { AUDIT_OUTCOMES, type AuditEntry, type AuditVerification } from '../api/types.ts';
import { DateTime } from '../components/date-time.tsx';
import { ErrorMessage } from '../components/error-message.tsx';
import { SelectField, TextField } from '../components/field.tsx';
import { Empty, Loading, Page, Section } from '../components/page.tsx';
import { useAction } from '../components/use-action.ts';
import { useResource } from '../components/use-resource.ts';
import { formatDetails } from '../format.ts';
import { useSession } from '../session.tsx';

/** Entries per page. */
const PAGE_SIZE = 50;

interface AuditFilter {
  readonly actor: string;
  readonly action: string;
  readonly target: string;
  readonly outcome: string;
  /** A local date and time from a datetime-local input, or "". */
  readonly since: string;
}

const NO_FILTER: AuditFilter = { actor: '', action: '', target: '', outcome: '', since: '' };

/** The audit log, newest first, with filters, paging and a check of the hash chain. */
export function AuditPage() {
  const { client } = useSession();
  const [filter, setFilter] = useState<AuditFilter>(NO_FILTER);
  // Each page starts below the id kept here; an empty stack is the newest page.
  const [cursors, setCursors] = useState<readonly number[]>([]);
  const beforeId = cursors.at(-1);
  const [marked, setMarked] = useState<number>();

  const entries = useResource(
    useCallback(
      () =>
        client.get<AuditEntry[]>('/api/audit', {
          actor: filter.actor,
          action: filter.action,
          target: filter.target,
          outcome: filter.outcome,
          since: filter.since ? new Date(filter.since).toISOString() : undefined,
          beforeId,
          // One more than shown tells whether an older page exists.
          limit: PAGE_SIZE + 1,
        }),
      [client, filter, beforeId],
    ),
  );
  const shown = entries.data?.slice(0, PAGE_SIZE);
  const hasOlder = (entries.data?.length ?? 0) > PAGE_SIZE;
  const oldestShown = shown?.at(-1)?.id;

  const applyFilter = (next: AuditFilter) => {
    setFilter(next);
    setCursors([]);
    setMarked(undefined);
  };
  const showEntry = (id: number) => {
    setFilter(NO_FILTER);
    setCursors([id + 1]);
    setMarked(id);
  };

  return (
    <Page
      title="Audit log"
      description="Every change made through the API, who made it and how it ended. Each entry is chained to the one before it by a SHA-256 hash, so an edited, deleted or reordered entry shows up when the chain is verified."
    >
      <VerifyChain onShowEntry={showEntry} />
      <Section
        title="Entries"
        actions={
          <button type="button" onClick={entries.reload} disabled={entries.loading}>
            Refresh
          </button>
        }
      >
        <FilterForm filter={filter} onApply={applyFilter} />
        <ErrorMessage error={entries.error} title="Cannot load audit entries" />
        {shown === undefined ? (
          entries.loading ? (
            <Loading what="audit entries" />
          ) : null
        ) : shown.length === 0 ? (
          <Empty>
            {filter === NO_FILTER && cursors.length === 0
              ? 'The audit log is empty.'
              : 'No audit entries match the filter.'}
          </Empty>
        ) : (
          <AuditTable entries={shown} marked={marked} />
        )}
        <nav className="pager" aria-label="Audit pages">
          <button
            type="button"
            disabled={cursors.length === 0 || entries.loading}
            onClick={() => setCursors([])}
          >
            Newest
          </button>
          <button
            type="button"
            disabled={cursors.length === 0 || entries.loading}
            onClick={() => setCursors((current) => current.slice(0, -1))}
          >
            Newer entries
          </button>
          <button
            type="button"
            disabled={!hasOlder || oldestShown === undefined || entries.loading}
            onClick={() => oldestShown !== undefined && setCursors((current) => [...current, oldestShown])}
          >
            Older entries
          </button>
          {shown && shown.length > 0 ? (
            <span className="muted">
              {`Showing ${shown.length} ${shown.length === 1 ? 'entry' : 'entries'}, #${oldestShown} to #${shown[0]?.id}`}
            </span>
          ) : null}
        </nav>
      </Section>
    </Page>
  );
}

function AuditTable({
  entries,
  marked,
}: {
  readonly entries: readonly AuditEntry[];
  readonly marked?: number | undefined;
}) {
  return (
    <div className="table-scroll">
      <table className="audit-table">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Time</th>
            <th scope="col">Actor</th>
            <th scope="col">Action</th>
            <th scope="col">Target</th>
            <th scope="col">Outcome</th>
            <th scope="col">Source</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <tr key={entry.id} className={entry.id === marked ? 'row-marked' : undefined}>
              <th scope="row">{entry.id}</th>
              <td>
                <DateTime value={entry.at} />
              </td>
              <td>{entry.actor}</td>
              <td>
                <code>{entry.action}</code>
              </td>
              <td>{entry.target ?? '—'}</td>
              <td>
                <span className={`badge badge-${entry.outcome}`}>{entry.outcome}</span>
              </td>
              <td>{entry.sourceIp ?? '—'}</td>
              <td
                className="cell-details"
                title={entry.requestId ? `Request id: ${entry.requestId}` : undefined}
              >
                {formatDetails(entry.details)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function FilterForm({
  filter,
  onApply,
}: {
  readonly filter: AuditFilter;
  readonly onApply: (filter: AuditFilter) => void;
}) {
  const [draft, setDraft] = useState<AuditFilter>(filter);
  const change = (field: keyof AuditFilter) => (event: { target: { value: string } }) =>
    setDraft((current) => ({ ...current, [field]: event.target.value }));
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    onApply({
      actor: draft.actor.trim(),
      action: draft.action.trim(),
      target: draft.target.trim(),
      outcome: draft.outcome,
      since: draft.since,
    });
  };
  return (
    <form className="filter-bar" onSubmit={submit} aria-label="Filter audit entries">
      <TextField
        label="Actor"
        name="actor"
        placeholder="alice"
        autoComplete="off"
        autoCapitalize="none"
        spellCheck={false}
        value={draft.actor}
        onChange={change('actor')}
      />
      <TextField
        label="Action"
        name="action"
        placeholder='users.create, or "users." for all'
        autoComplete="off"
        autoCapitalize="none"
        spellCheck={false}
        value={draft.action}
        onChange={change('action')}
      />
      <TextField
        label="Target"
        name="target"
        placeholder="user:alice"
        autoComplete="off"
        autoCapitalize="none"
        spellCheck={false}
        value={draft.target}
        onChange={change('target')}
      />
      <SelectField
        label="Outcome"
        name="outcome"
        options={[{ value: '', label: 'Any' }, ...AUDIT_OUTCOMES]}
        value={draft.outcome}
        onChange={change('outcome')}
      />
      <TextField
        label="Since"
        name="since"
        type="datetime-local"
        step={1}
        value={draft.since}
        onChange={change('since')}
      />
      <div className="button-row">
        <button type="submit">Apply filter</button>
        <button
          type="button"
          onClick={() => {
            setDraft(NO_FILTER);
            onApply(NO_FILTER);
          }}
        >
          Clear
        </button>
      </div>
    </form>
  );
}

function VerifyChain({ onShowEntry }: { readonly onShowEntry: (id: number) => void }) {
  const { client } = useSession();
  const verify = useAction(useCallback(() => client.get<AuditVerification>('/api/audit/verify'), [client]));
  const [result, setResult] = useState<AuditVerification>();
  const run = async () => {
    setResult(undefined);
    const outcome = await verify.run();
    if (outcome.ok) setResult(outcome.value);
  };

  return (
    <Section title="Hash chain">
      <div className="button-row">
        <button type="button" className="button-primary" onClick={() => void run()} disabled={verify.pending}>
          {verify.pending ? 'Verifying…' : 'Verify the chain'}
        </button>
      </div>
      <ErrorMessage error={verify.error} title="Cannot verify the audit log" />
      <div role="status" aria-live="polite" data-testid="verify-result">
        {result?.ok ? (
          <p className="message message-success">
            The chain is intact: checked {result.checked} {result.checked === 1 ? 'entry' : 'entries'} up to
            entry #{result.headId}.
          </p>
        ) : null}
        {result && !result.ok ? (
          <div className="message message-error">
            <p className="message-title">
              The chain is broken at entry #{result.problem?.entryId ?? '?'}
              {result.problem ? ` (${result.problem.kind})` : ''}
            </p>
            {result.problem ? <p>{result.problem.message}</p> : null}
            <p className="message-hint">
              Checked {result.checked} {result.checked === 1 ? 'entry' : 'entries'}; entries after the broken
              one cannot be trusted until it is explained.
            </p>
            {result.problem ? (
              <button type="button" onClick={() => result.problem && onShowEntry(result.problem.entryId)}>
                Show entry #{result.problem.entryId}
              </button>
            ) : null}
          </div>
        ) : null}
      </div>
    </Section>
  );
}
