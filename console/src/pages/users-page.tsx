import { type FormEvent, useCallback, useState } from 'react';
import type { User } from '../api/types.ts';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { DateTime } from '../components/date-time.tsx';
import { ErrorMessage, Notice } from '../components/error-message.tsx';
import { TextField } from '../components/field.tsx';
import { Empty, Loading, Page, Section } from '../components/page.tsx';
import { useAction } from '../components/use-action.ts';
import { useResource } from '../components/use-resource.ts';
import { useSession } from '../session.tsx';

/** Users: the list for viewers; creating, disabling and enabling for platform administrators. */
export function UsersPage() {
  const { client, can, whoami } = useSession();
  const users = useResource(useCallback(() => client.get<User[]>('/api/users'), [client]));
  const [notice, setNotice] = useState<string>();
  const isAdmin = can('admin');

  const setDisabled = useAction(
    useCallback(
      (username: string, disabled: boolean) =>
        client.post<User>(`/api/users/${encodeURIComponent(username)}/${disabled ? 'disable' : 'enable'}`),
      [client],
    ),
  );
  const toggle = async (user: User) => {
    setNotice(undefined);
    const result = await setDisabled.run(user.username, !user.isDisabled);
    if (result.ok) {
      setNotice(`${result.value.isDisabled ? 'Disabled' : 'Enabled'} user "${user.username}"`);
      users.reload();
    }
  };

  return (
    <Page
      title="Users"
      description="People who can log in to Slipway. A disabled user cannot log in, and their sessions and tokens stop working."
    >
      {isAdmin ? (
        <CreateUserForm
          onCreated={(user) => {
            setNotice(`Created user "${user.username}"`);
            users.reload();
          }}
        />
      ) : null}
      <Section
        title="All users"
        actions={
          <button type="button" onClick={users.reload} disabled={users.loading}>
            Refresh
          </button>
        }
      >
        <Notice>{notice}</Notice>
        <ErrorMessage error={setDisabled.error} title="Cannot change the user" />
        <ErrorMessage error={users.error} title="Cannot load users" />
        {users.data === undefined ? (
          users.loading ? (
            <Loading what="users" />
          ) : null
        ) : users.data.length === 0 ? (
          <Empty>No users yet.</Empty>
        ) : (
          <div className="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Username</th>
                  <th scope="col">Name</th>
                  <th scope="col">Email</th>
                  <th scope="col">Groups</th>
                  <th scope="col">Status</th>
                  <th scope="col">Last login</th>
                  <th scope="col">Created</th>
                  {isAdmin ? <th scope="col">Actions</th> : null}
                </tr>
              </thead>
              <tbody>
                {users.data.map((user) => (
                  <tr key={user.id}>
                    <th scope="row">{user.username}</th>
                    <td>{user.displayName ?? '—'}</td>
                    <td>{user.email ?? '—'}</td>
                    <td>{user.groups.length > 0 ? user.groups.join(', ') : '—'}</td>
                    <td>
                      <span className={user.isDisabled ? 'badge badge-bad' : 'badge badge-ok'}>
                        {user.isDisabled ? 'disabled' : 'active'}
                      </span>
                    </td>
                    <td>
                      <DateTime value={user.lastLoginAt} />
                    </td>
                    <td>
                      <DateTime value={user.createdAt} />
                    </td>
                    {isAdmin ? (
                      <td>
                        {user.username === whoami.username ? (
                          <span className="muted">you</span>
                        ) : user.isDisabled ? (
                          <button
                            type="button"
                            aria-label={`Enable user "${user.username}"`}
                            disabled={setDisabled.pending}
                            onClick={() => void toggle(user)}
                          >
                            Enable
                          </button>
                        ) : (
                          <ConfirmButton
                            label={`Disable user "${user.username}"`}
                            title={`Disable user "${user.username}"?`}
                            message="They are logged out at once, their API tokens stop working, and they cannot log in until an administrator enables them again."
                            confirmLabel="Disable user"
                            disabled={setDisabled.pending}
                            onConfirm={() => void toggle(user)}
                          >
                            Disable
                          </ConfirmButton>
                        )}
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

interface NewUser {
  username: string;
  password: string;
  displayName: string;
  email: string;
}

const EMPTY_USER: NewUser = { username: '', password: '', displayName: '', email: '' };

function CreateUserForm({ onCreated }: { readonly onCreated: (user: User) => void }) {
  const { client } = useSession();
  const [form, setForm] = useState<NewUser>(EMPTY_USER);
  const create = useAction(
    useCallback(
      (user: NewUser) =>
        client.post<User>('/api/users', {
          username: user.username.trim(),
          password: user.password,
          ...(user.displayName.trim() ? { displayName: user.displayName.trim() } : {}),
          ...(user.email.trim() ? { email: user.email.trim() } : {}),
        }),
      [client],
    ),
  );
  const errors = create.error?.fieldErrors() ?? {};
  const change = (field: keyof NewUser) => (event: { target: { value: string } }) =>
    setForm((current) => ({ ...current, [field]: event.target.value }));

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const result = await create.run(form);
    if (result.ok) {
      setForm(EMPTY_USER);
      onCreated(result.value);
    }
  };

  return (
    <Section title="Create a user">
      <form className="form-grid" onSubmit={submit} aria-label="Create a user" noValidate>
        <ErrorMessage error={create.error} title="Cannot create the user" />
        <TextField
          label="Username"
          name="username"
          help='Lowercase letters, digits, ".", "_" or "-", starting with a letter'
          autoComplete="off"
          autoCapitalize="none"
          spellCheck={false}
          value={form.username}
          onChange={change('username')}
          error={errors.username}
        />
        <TextField
          label="Password"
          name="password"
          type="password"
          help="At least 12 characters"
          autoComplete="new-password"
          value={form.password}
          onChange={change('password')}
          error={errors.password}
        />
        <TextField
          label="Display name (optional)"
          name="displayName"
          autoComplete="off"
          value={form.displayName}
          onChange={change('displayName')}
          error={errors.displayName}
        />
        <TextField
          label="Email (optional)"
          name="email"
          type="email"
          autoComplete="off"
          value={form.email}
          onChange={change('email')}
          error={errors.email}
        />
        <div className="form-actions">
          <button type="submit" className="button-primary" disabled={create.pending}>
            {create.pending ? 'Creating…' : 'Create user'}
          </button>
        </div>
      </form>
    </Section>
  );
}
