import { type FormEvent, useCallback, useId, useState } from 'react';
import { environmentScopes, holdsRoleAnywhere, PLATFORM } from '../access.ts';
import { type Group, ROLES, type Role, type RoleBinding, type User } from '../api/types.ts';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { DateTime } from '../components/date-time.tsx';
import { ErrorMessage, Notice } from '../components/error-message.tsx';
import { SelectField, TextField } from '../components/field.tsx';
import { Empty, Loading, Page, Section } from '../components/page.tsx';
import { useAction } from '../components/use-action.ts';
import { useResource } from '../components/use-resource.ts';
import { useSession } from '../session.tsx';

interface Filter {
  readonly subject: string;
  readonly scope: string;
}

/** Role bindings: who holds which role where; administrators of a scope grant and revoke on it. */
export function RolesPage() {
  const { client, can, whoami, refreshWhoami } = useSession();
  // Without a platform role, only the bindings of an environment you hold a role on are readable.
  const [filter, setFilter] = useState<Filter>(() => ({
    subject: '',
    scope: can('viewer') ? '' : (environmentScopes(whoami.grants)[0] ?? ''),
  }));
  const bindings = useResource(
    useCallback(
      () =>
        client.get<RoleBinding[]>('/api/role-bindings', {
          subject: filter.subject,
          scope: filter.scope,
        }),
      [client, filter],
    ),
  );
  const [notice, setNotice] = useState<string>();
  const changed = (text: string) => {
    setNotice(text);
    bindings.reload();
    void refreshWhoami().catch(() => undefined);
  };
  const revoke = useAction(
    useCallback(
      (binding: RoleBinding) =>
        client.post('/api/role-bindings/revoke', {
          subject: binding.subject,
          role: binding.role,
          scope: binding.scope,
        }),
      [client],
    ),
  );
  const canRevokeSome = holdsRoleAnywhere(whoami.grants, 'admin');

  return (
    <Page
      title="Roles"
      description={
        <>
          A role binding gives a user or group a role on the whole platform or on one environment. Roles,
          weakest first: {ROLES.join(', ')}; each includes the ones before it.
        </>
      }
    >
      {canRevokeSome ? (
        <GrantForm onGranted={(b) => changed(`Granted "${b.role}" on ${b.scope} to ${b.subject}`)} />
      ) : null}
      <Section
        title="Role bindings"
        actions={
          <button type="button" onClick={bindings.reload} disabled={bindings.loading}>
            Refresh
          </button>
        }
      >
        <FilterForm filter={filter} onApply={setFilter} />
        <Notice>{notice}</Notice>
        <ErrorMessage error={revoke.error} title="Cannot revoke the role" />
        <ErrorMessage error={bindings.error} title="Cannot load role bindings" />
        {bindings.data === undefined ? (
          bindings.loading ? (
            <Loading what="role bindings" />
          ) : null
        ) : bindings.data.length === 0 ? (
          <Empty>
            {filter.subject || filter.scope ? 'No role bindings match the filter.' : 'No role bindings yet.'}
          </Empty>
        ) : (
          <div className="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Subject</th>
                  <th scope="col">Role</th>
                  <th scope="col">Scope</th>
                  <th scope="col">Granted by</th>
                  <th scope="col">Granted</th>
                  {canRevokeSome ? <th scope="col">Actions</th> : null}
                </tr>
              </thead>
              <tbody>
                {bindings.data.map((binding) => (
                  <tr key={binding.id}>
                    <th scope="row">{binding.subject}</th>
                    <td>{binding.role}</td>
                    <td>{binding.scope}</td>
                    <td>{binding.createdBy ?? '—'}</td>
                    <td>
                      <DateTime value={binding.createdAt} />
                    </td>
                    {canRevokeSome ? (
                      <td>
                        {can('admin', binding.scope) ? (
                          <ConfirmButton
                            label={`Revoke "${binding.role}" on ${binding.scope} from ${binding.subject}`}
                            title={`Revoke "${binding.role}" on ${binding.scope} from ${binding.subject}?`}
                            message="They lose what this role allows at once, unless another binding grants it."
                            confirmLabel="Revoke role"
                            disabled={revoke.pending}
                            onConfirm={async () => {
                              const result = await revoke.run(binding);
                              if (result.ok) {
                                changed(
                                  `Revoked "${binding.role}" on ${binding.scope} from ${binding.subject}`,
                                );
                              }
                            }}
                          >
                            Revoke
                          </ConfirmButton>
                        ) : null}
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
    </Page>
  );
}

function FilterForm({ filter, onApply }: { readonly filter: Filter; readonly onApply: (f: Filter) => void }) {
  const [subject, setSubject] = useState(filter.subject);
  const [scope, setScope] = useState(filter.scope);
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    onApply({ subject: subject.trim(), scope: scope.trim() });
  };
  return (
    <form className="filter-bar" onSubmit={submit} aria-label="Filter role bindings">
      <TextField
        label="Subject"
        name="subject"
        placeholder="user:alice or group:ops"
        autoComplete="off"
        autoCapitalize="none"
        spellCheck={false}
        value={subject}
        onChange={(event) => setSubject(event.target.value)}
      />
      <TextField
        label="Scope"
        name="scope"
        placeholder="platform or environment:staging"
        autoComplete="off"
        autoCapitalize="none"
        spellCheck={false}
        value={scope}
        onChange={(event) => setScope(event.target.value)}
      />
      <div className="button-row">
        <button type="submit">Apply filter</button>
        <button
          type="button"
          onClick={() => {
            setSubject('');
            setScope('');
            onApply({ subject: '', scope: '' });
          }}
        >
          Clear
        </button>
      </div>
    </form>
  );
}

type SubjectKind = 'user' | 'group';
type ScopeKind = 'platform' | 'environment';

function GrantForm({ onGranted }: { readonly onGranted: (binding: RoleBinding) => void }) {
  const { client, can, whoami } = useSession();
  const adminEnvironment = environmentScopes(whoami.grants)
    .find((scope) => can('admin', scope))
    ?.slice('environment:'.length);
  const [subjectKind, setSubjectKind] = useState<SubjectKind>('user');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [scopeKind, setScopeKind] = useState<ScopeKind>(can('admin') ? 'platform' : 'environment');
  const [environment, setEnvironment] = useState(can('admin') ? '' : (adminEnvironment ?? ''));
  const suggestionsId = useId();
  const users = useResource(
    useCallback(
      () => (can('viewer') ? client.get<User[]>('/api/users') : Promise.resolve([])),
      [client, can],
    ),
  );
  const groups = useResource(
    useCallback(
      () => (can('viewer') ? client.get<Group[]>('/api/groups') : Promise.resolve([])),
      [client, can],
    ),
  );
  const suggestions =
    subjectKind === 'user'
      ? (users.data ?? []).map((user) => user.username)
      : (groups.data ?? []).map((group) => group.name);

  const grant = useAction(
    useCallback(
      (body: { subject: string; role: Role; scope: string }) =>
        client.post<RoleBinding>('/api/role-bindings', body),
      [client],
    ),
  );
  const errors = grant.error?.fieldErrors() ?? {};

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const scope = scopeKind === 'platform' ? PLATFORM : `environment:${environment.trim()}`;
    const result = await grant.run({ subject: `${subjectKind}:${name.trim()}`, role, scope });
    if (result.ok) {
      setName('');
      onGranted(result.value);
    }
  };

  return (
    <Section title="Grant a role">
      <form className="form-grid" onSubmit={submit} aria-label="Grant a role" noValidate>
        <ErrorMessage error={grant.error} title="Cannot grant the role" />
        <SelectField
          label="Subject type"
          name="subjectKind"
          options={[
            { value: 'user', label: 'User' },
            { value: 'group', label: 'Group' },
          ]}
          value={subjectKind}
          onChange={(event) => setSubjectKind(event.target.value as SubjectKind)}
        />
        <TextField
          label={subjectKind === 'user' ? 'Username' : 'Group name'}
          name="subjectName"
          list={suggestionsId}
          autoComplete="off"
          autoCapitalize="none"
          spellCheck={false}
          value={name}
          onChange={(event) => setName(event.target.value)}
          error={errors.subject}
        />
        <datalist id={suggestionsId}>
          {suggestions.map((suggestion) => (
            <option key={suggestion} value={suggestion} />
          ))}
        </datalist>
        <SelectField
          label="Role"
          name="role"
          options={ROLES}
          value={role}
          onChange={(event) => setRole(event.target.value as Role)}
          error={errors.role}
        />
        <SelectField
          label="Scope"
          name="scopeKind"
          options={[
            { value: 'platform', label: 'The whole platform' },
            { value: 'environment', label: 'One environment' },
          ]}
          value={scopeKind}
          onChange={(event) => setScopeKind(event.target.value as ScopeKind)}
          error={scopeKind === 'platform' ? errors.scope : undefined}
        />
        {scopeKind === 'environment' ? (
          <TextField
            label="Environment"
            name="environment"
            help="Its name, like staging; it need not exist yet"
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            value={environment}
            onChange={(event) => setEnvironment(event.target.value)}
            error={errors.scope}
          />
        ) : null}
        <div className="form-actions">
          <button type="submit" className="button-primary" disabled={grant.pending}>
            {grant.pending ? 'Granting…' : 'Grant role'}
          </button>
        </div>
      </form>
    </Section>
  );
}
