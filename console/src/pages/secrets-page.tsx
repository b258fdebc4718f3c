import { type FormEvent, useCallback, useId, useState } from 'react';
import { environmentScopes, holdsRole } from '../access.ts';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { DateTime } from '../components/date-time.tsx';
import { ErrorMessage, Notice } from '../components/error-message.tsx';
import { SelectField, TextField } from '../components/field.tsx';
import { Empty, Loading, Page, Section } from '../components/page.tsx';
import { useAction } from '../components/use-action.ts';
import { useResource } from '../components/use-resource.ts';
import { useSession } from '../session.tsx';

// What the secrets API answers (src/secrets/schema.ts); keep them in step.
interface StoreStatus {
  readonly sealed: boolean;
  readonly reason: string | null;
  readonly hint: string | null;
  readonly rootKeyId: string | null;
}
interface MatrixKey {
  readonly name: string;
  readonly cells: Readonly<Record<string, { readonly version: number; readonly valueGroup: number } | null>>;
  readonly missing: readonly string[];
  readonly sameValue: readonly (readonly string[])[];
}
interface Matrix {
  readonly environments: readonly string[];
  readonly keys: readonly MatrixKey[];
}
interface SecretSummary {
  readonly name: string;
  readonly version: number;
  readonly fingerprint: string;
  readonly updatedAt: string;
  readonly updatedBy: string;
  readonly reason: string | null;
  readonly deletedAt: string | null;
  readonly deletedBy: string | null;
}
interface SecretList {
  readonly setVersion: number;
  readonly secrets: readonly SecretSummary[];
}
interface SecretVersion {
  readonly version: number;
  readonly origin: string;
  readonly rolledBackFrom: number | null;
  readonly reason: string | null;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly fingerprint: string;
  readonly destroyed: boolean;
  readonly current: boolean;
}

const secretsPath = (environment: string, ...rest: string[]) =>
  [`/api/secrets/environments/${encodeURIComponent(environment)}`, ...rest.map(encodeURIComponent)].join('/');

/**
 * Secrets: the keys × environments matrix (missing keys, values shared between environments), and
 * per environment its secrets and their history. Values are never shown, except to an environment
 * administrator who asks to reveal one (the read is audited).
 */
export function SecretsPage() {
  const { client } = useSession();
  const status = useResource(useCallback(() => client.get<StoreStatus>('/api/secrets/status'), [client]));
  const [environment, setEnvironment] = useState('');

  return (
    <Page
      title="Secrets"
      description={
        <>
          Each environment's credentials, encrypted and versioned. Every read and change is in the audit log;
          values are shown only to an environment's administrators, on request.
        </>
      }
    >
      <ErrorMessage error={status.error} title="Cannot read the secret store's status" />
      {status.data?.sealed ? (
        <SealedNotice status={status.data} onUnsealed={status.reload} />
      ) : status.data ? (
        <>
          <MatrixSection onPick={setEnvironment} />
          <EnvironmentSection key={environment} environment={environment} onEnvironment={setEnvironment} />
        </>
      ) : status.loading ? (
        <Loading what="the secret store" />
      ) : null}
    </Page>
  );
}

function SealedNotice({
  status,
  onUnsealed,
}: {
  readonly status: StoreStatus;
  readonly onUnsealed: () => void;
}) {
  const { client, can } = useSession();
  const [rootKey, setRootKey] = useState('');
  const unseal = useAction(
    useCallback((key: string) => client.post('/api/secrets/unseal', { rootKey: key }), [client]),
  );
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const result = await unseal.run(rootKey.trim());
    setRootKey('');
    if (result.ok) onUnsealed();
  };
  return (
    <Section title="The secret store is sealed">
      <div className="message message-info" role="status">
        <p>{status.reason}</p>
        {status.hint ? <p className="message-hint">{status.hint}</p> : null}
      </div>
      {can('admin') ? (
        <form className="form-grid" onSubmit={submit} aria-label="Unseal the secret store" noValidate>
          <ErrorMessage error={unseal.error} title="Cannot unseal" />
          <TextField
            label="Root key"
            name="rootKey"
            type="password"
            autoComplete="off"
            help="Kept in the server's memory only; the attempt is audited"
            value={rootKey}
            onChange={(event) => setRootKey(event.target.value)}
          />
          <div className="form-actions">
            <button type="submit" className="button-primary" disabled={unseal.pending || !rootKey.trim()}>
              {unseal.pending ? 'Unsealing…' : 'Unseal'}
            </button>
          </div>
        </form>
      ) : null}
    </Section>
  );
}

function MatrixSection({ onPick }: { readonly onPick: (environment: string) => void }) {
  const { client } = useSession();
  const matrix = useResource(useCallback(() => client.get<Matrix>('/api/secrets/matrix'), [client]));
  const environments = matrix.data?.environments ?? [];
  const stagingAndProduction = environments.includes('staging') && environments.includes('production');
  return (
    <Section
      title="Keys × environments"
      actions={
        <button type="button" onClick={matrix.reload} disabled={matrix.loading}>
          Refresh
        </button>
      }
    >
      <ErrorMessage error={matrix.error} title="Cannot load the matrix" />
      {matrix.data === undefined ? (
        matrix.loading ? (
          <Loading what="the matrix" />
        ) : null
      ) : matrix.data.keys.length === 0 ? (
        <Empty>No secrets in the environments you can see.</Empty>
      ) : (
        <>
          <p className="muted">
            "missing": the environment lacks the key. "same as …": the value equals another environment's
            (compared by keyed hash, not by value)
            {stagingAndProduction ? '; staging sharing a value with production is flagged' : ''}.
          </p>
          <div className="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Key</th>
                  {environments.map((environment) => (
                    <th scope="col" key={environment}>
                      <button
                        type="button"
                        onClick={() => onPick(environment)}
                        aria-label={`Show the secrets of ${environment}`}
                      >
                        {environment}
                      </button>
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {matrix.data.keys.map((key) => {
                  const sharedByStagingAndProduction = key.sameValue.some(
                    (group) => group.includes('staging') && group.includes('production'),
                  );
                  return (
                    <tr key={key.name} className={sharedByStagingAndProduction ? 'row-marked' : undefined}>
                      <th scope="row">
                        {key.name}
                        {sharedByStagingAndProduction ? (
                          <>
                            {' '}
                            <span className="badge badge-denied">same in staging and production</span>
                          </>
                        ) : null}
                      </th>
                      {environments.map((environment) => {
                        const cell = key.cells[environment];
                        const others = key.sameValue
                          .find((group) => group.includes(environment))
                          ?.filter((other) => other !== environment);
                        return (
                          <td key={environment}>
                            {cell ? (
                              <>
                                v{cell.version}
                                {others && others.length > 0 ? (
                                  <span className="muted"> (same as {others.join(', ')})</span>
                                ) : null}
                              </>
                            ) : (
                              <span className="badge badge-bad">missing</span>
                            )}
                          </td>
                        );
                      })}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Section>
  );
}

function EnvironmentSection({
  environment,
  onEnvironment,
}: {
  readonly environment: string;
  readonly onEnvironment: (environment: string) => void;
}) {
  const { client, can, whoami } = useSession();
  const [showDeleted, setShowDeleted] = useState(false);
  const [typed, setTyped] = useState(environment);
  const [notice, setNotice] = useState<string>();
  const [openHistory, setOpenHistory] = useState<string>();
  const list = useResource(
    useCallback(
      () =>
        environment
          ? client.get<SecretList>(secretsPath(environment), { deleted: showDeleted ? 'true' : undefined })
          : Promise.resolve(undefined),
      [client, environment, showDeleted],
    ),
  );
  const isAdmin = environment !== '' && can('admin', `environment:${environment}`);
  const known = environmentScopes(whoami.grants).map((scope) => scope.slice('environment:'.length));
  const changed = (text: string) => {
    setNotice(text);
    list.reload();
  };
  const remove = useAction(
    useCallback((name: string) => client.delete(secretsPath(environment, name)), [client, environment]),
  );
  const restore = useAction(
    useCallback(
      (name: string) => client.post(secretsPath(environment, name, 'restore'), {}),
      [client, environment],
    ),
  );

  return (
    <Section title={environment ? `Secrets of ${environment}` : 'Secrets of an environment'}>
      <form
        className="filter-bar"
        aria-label="Choose an environment"
        onSubmit={(event) => {
          event.preventDefault();
          setNotice(undefined);
          onEnvironment(typed.trim());
        }}
      >
        <TextField
          label="Environment"
          name="environment"
          list="secrets-environments"
          autoComplete="off"
          autoCapitalize="none"
          spellCheck={false}
          placeholder="staging"
          value={typed}
          onChange={(event) => setTyped(event.target.value)}
        />
        <datalist id="secrets-environments">
          {known.map((name) => (
            <option key={name} value={name} />
          ))}
        </datalist>
        <div className="button-row">
          <button type="submit">Show</button>
          <label>
            <input
              type="checkbox"
              checked={showDeleted}
              onChange={(event) => setShowDeleted(event.target.checked)}
            />{' '}
            include deleted
          </label>
        </div>
      </form>
      <Notice>{notice}</Notice>
      <ErrorMessage error={list.error} title="Cannot load the secrets" />
      <ErrorMessage error={remove.error} title="Cannot delete the secret" />
      <ErrorMessage error={restore.error} title="Cannot restore the secret" />
      {isAdmin ? <SetSecretForm environment={environment} onSet={changed} /> : null}
      {!environment ? (
        <Empty>Choose an environment, or click one in the matrix.</Empty>
      ) : list.data === undefined ? (
        list.loading ? (
          <Loading what="secrets" />
        ) : null
      ) : list.data.secrets.length === 0 ? (
        <Empty>Environment {environment} has no secrets yet.</Empty>
      ) : (
        <>
          <p className="muted">Secret set version {list.data.setVersion}: the version a release pins.</p>
          <div className="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Version</th>
                  <th scope="col">Fingerprint</th>
                  <th scope="col">Changed</th>
                  <th scope="col">By</th>
                  <th scope="col">Reason</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.data.secrets.flatMap((secret) => {
                  const rows = [
                    <tr key={secret.name}>
                      <th scope="row">
                        {secret.name}
                        {secret.deletedAt ? (
                          <>
                            {' '}
                            <span className="badge badge-bad">deleted</span>
                          </>
                        ) : null}
                      </th>
                      <td>{secret.version}</td>
                      <td className="cell-details">{secret.fingerprint}</td>
                      <td>
                        <DateTime value={secret.deletedAt ?? secret.updatedAt} />
                      </td>
                      <td>{secret.deletedBy ?? secret.updatedBy}</td>
                      <td>{secret.reason ?? '—'}</td>
                      <td>
                        <div className="button-row">
                          <button
                            type="button"
                            aria-expanded={openHistory === secret.name}
                            onClick={() =>
                              setOpenHistory(openHistory === secret.name ? undefined : secret.name)
                            }
                          >
                            History
                          </button>
                          {isAdmin && !secret.deletedAt ? (
                            <RevealButton environment={environment} name={secret.name} />
                          ) : null}
                          {isAdmin && !secret.deletedAt ? (
                            <ConfirmButton
                              label={`Delete secret ${secret.name}`}
                              title={`Delete ${secret.name} from ${environment}?`}
                              message="It leaves the next secret set version; restore brings it back with its value."
                              confirmLabel="Delete secret"
                              disabled={remove.pending}
                              onConfirm={async () => {
                                if ((await remove.run(secret.name)).ok) changed(`Deleted ${secret.name}`);
                              }}
                            >
                              Delete
                            </ConfirmButton>
                          ) : null}
                          {isAdmin && secret.deletedAt ? (
                            <button
                              type="button"
                              disabled={restore.pending}
                              onClick={async () => {
                                if ((await restore.run(secret.name)).ok) changed(`Restored ${secret.name}`);
                              }}
                            >
                              Restore
                            </button>
                          ) : null}
                        </div>
                      </td>
                    </tr>,
                  ];
                  if (openHistory === secret.name) {
                    rows.push(
                      <tr key={`${secret.name}-history`}>
                        <td colSpan={7}>
                          <SecretHistory
                            environment={environment}
                            name={secret.name}
                            canRollBack={isAdmin && !secret.deletedAt}
                            onRolledBack={changed}
                          />
                        </td>
                      </tr>,
                    );
                  }
                  return rows;
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
      {environment && !isAdmin && holdsRole(whoami.grants, 'viewer', `environment:${environment}`) ? (
        <p className="muted">You see names and metadata; values are for the environment's administrators.</p>
      ) : null}
    </Section>
  );
}

/** Reveals one value on request; the read is audited, and the value is forgotten when hidden. */
function RevealButton({ environment, name }: { readonly environment: string; readonly name: string }) {
  const { client } = useSession();
  const [value, setValue] = useState<string>();
  const valueId = useId();
  const reveal = useAction(
    useCallback(
      () => client.get<{ value: string }>(secretsPath(environment, name, 'value')),
      [client, environment, name],
    ),
  );
  if (value !== undefined) {
    return (
      <span className="inline-form">
        <label htmlFor={valueId} className="visually-hidden">
          Value of {name}
        </label>
        <textarea id={valueId} readOnly value={value} rows={Math.min(6, value.split('\n').length)} />
        <button type="button" onClick={() => setValue(undefined)}>
          Hide
        </button>
      </span>
    );
  }
  return (
    <>
      <button
        type="button"
        aria-label={`Reveal the value of ${name} (audited)`}
        disabled={reveal.pending}
        onClick={async () => {
          const result = await reveal.run();
          if (result.ok) setValue(result.value.value);
        }}
      >
        Reveal
      </button>
      <ErrorMessage error={reveal.error} title={`Cannot reveal ${name}`} />
    </>
  );
}

function SecretHistory({
  environment,
  name,
  canRollBack,
  onRolledBack,
}: {
  readonly environment: string;
  readonly name: string;
  readonly canRollBack: boolean;
  readonly onRolledBack: (text: string) => void;
}) {
  const { client } = useSession();
  const history = useResource(
    useCallback(
      () => client.get<{ versions: SecretVersion[] }>(secretsPath(environment, name)),
      [client, environment, name],
    ),
  );
  const rollback = useAction(
    useCallback(
      (toVersion: number) => client.post(secretsPath(environment, name, 'rollback'), { toVersion }),
      [client, environment, name],
    ),
  );
  return (
    <>
      <ErrorMessage error={history.error} title={`Cannot load the history of ${name}`} />
      <ErrorMessage error={rollback.error} title="Cannot roll back" />
      {history.data === undefined ? (
        history.loading ? (
          <Loading what="the history" />
        ) : null
      ) : (
        <table>
          <caption>History of {name}</caption>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">How</th>
              <th scope="col">Fingerprint</th>
              <th scope="col">When</th>
              <th scope="col">By</th>
              <th scope="col">Reason</th>
              {canRollBack ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {history.data.versions.map((version) => (
              <tr key={version.version}>
                <td>
                  {version.version}
                  {version.current ? ' (current)' : ''}
                </td>
                <td>{version.rolledBackFrom ? `rollback to ${version.rolledBackFrom}` : version.origin}</td>
                <td className="cell-details">{version.destroyed ? 'destroyed' : version.fingerprint}</td>
                <td>
                  <DateTime value={version.createdAt} />
                </td>
                <td>{version.createdBy}</td>
                <td>{version.reason ?? '—'}</td>
                {canRollBack ? (
                  <td>
                    {!version.current && !version.destroyed ? (
                      <ConfirmButton
                        label={`Roll ${name} back to version ${version.version}`}
                        title={`Roll ${name} back to version ${version.version}?`}
                        message="Its value becomes current as a new version, in a new secret set version."
                        confirmLabel="Roll back"
                        disabled={rollback.pending}
                        onConfirm={async () => {
                          if ((await rollback.run(version.version)).ok) {
                            onRolledBack(`Rolled ${name} back to the value of version ${version.version}`);
                            history.reload();
                          }
                        }}
                      >
                        Roll back
                      </ConfirmButton>
                    ) : null}
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function SetSecretForm({
  environment,
  onSet,
}: {
  readonly environment: string;
  readonly onSet: (text: string) => void;
}) {
  const { client } = useSession();
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [reason, setReason] = useState('');
  const [kind, setKind] = useState<'line' | 'multi'>('line');
  const valueId = useId();
  const set = useAction(
    useCallback(
      (input: { name: string; value: string; reason: string }) =>
        client.post<{ version: number; setVersion: number; changed: boolean }>(
          secretsPath(environment, input.name),
          {
            value: input.value,
            ...(input.reason ? { reason: input.reason } : {}),
          },
        ),
      [client, environment],
    ),
  );
  const errors = set.error?.fieldErrors() ?? {};
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const result = await set.run({ name: name.trim(), value, reason: reason.trim() });
    if (result.ok) {
      setValue('');
      setReason('');
      onSet(
        result.value.changed
          ? `Set ${name.trim()}: version ${result.value.version}, secret set version ${result.value.setVersion}`
          : `${name.trim()} already had this value; nothing changed`,
      );
    }
  };
  return (
    <form className="form-grid" onSubmit={submit} aria-label={`Set a secret in ${environment}`} noValidate>
      <ErrorMessage error={set.error} title="Cannot set the secret" />
      <TextField
        label="Name"
        name="name"
        placeholder="DB_PASSWORD"
        autoComplete="off"
        autoCapitalize="characters"
        spellCheck={false}
        value={name}
        onChange={(event) => setName(event.target.value)}
        error={errors.name}
      />
      <SelectField
        label="Value kind"
        name="kind"
        options={[
          { value: 'line', label: 'One line (hidden while typed)' },
          { value: 'multi', label: 'Several lines (a key, a certificate)' },
        ]}
        value={kind}
        onChange={(event) => setKind(event.target.value as 'line' | 'multi')}
      />
      {kind === 'line' ? (
        <TextField
          label="Value"
          name="value"
          type="password"
          autoComplete="new-password"
          value={value}
          onChange={(event) => setValue(event.target.value)}
          error={errors.value}
        />
      ) : (
        <div className={`field${errors.value ? ' field-invalid' : ''}`}>
          <label htmlFor={valueId}>Value</label>
          <textarea
            id={valueId}
            name="value"
            rows={5}
            autoComplete="off"
            spellCheck={false}
            value={value}
            onChange={(event) => setValue(event.target.value)}
          />
          {errors.value ? <span className="field-error">{errors.value}</span> : null}
        </div>
      )}
      <TextField
        label="Reason"
        name="reason"
        help="Shown in history and the audit log; never put a secret here"
        autoComplete="off"
        value={reason}
        onChange={(event) => setReason(event.target.value)}
        error={errors.reason}
      />
      <div className="form-actions">
        <button type="submit" className="button-primary" disabled={set.pending || !name.trim()}>
          {set.pending ? 'Saving…' : 'Set secret'}
        </button>
      </div>
    </form>
  );
}
