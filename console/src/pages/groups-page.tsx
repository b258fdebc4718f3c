import { type FormEvent, useCallback, useId, useState } from 'react';
import type { Group, User } from '../api/types.ts';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { DateTime } from '../components/date-time.tsx';
import { ErrorMessage, Notice } from '../components/error-message.tsx';
import { TextField } from '../components/field.tsx';
import { Empty, Loading, Page, Section } from '../components/page.tsx';
import { useAction } from '../components/use-action.ts';
import { useResource } from '../components/use-resource.ts';
import { useSession } from '../session.tsx';

/** Groups and their members; platform administrators create and delete groups and change members. */
export function GroupsPage() {
  const { client, can, refreshWhoami } = useSession();
  const groups = useResource(useCallback(() => client.get<Group[]>('/api/groups'), [client]));
  const users = useResource(useCallback(() => client.get<User[]>('/api/users'), [client]));
  const [notice, setNotice] = useState<string>();
  const isAdmin = can('admin');
  const usernamesId = useId();

  const changed = (text: string) => {
    setNotice(text);
    groups.reload();
    // The change may be about the current user, whose grants come through groups.
    void refreshWhoami().catch(() => undefined);
  };

  const removeMember = useAction(
    useCallback(
      (group: string, username: string) =>
        client.delete<Group>(
          `/api/groups/${encodeURIComponent(group)}/members/${encodeURIComponent(username)}`,
        ),
      [client],
    ),
  );
  const deleteGroup = useAction(
    useCallback((group: string) => client.delete(`/api/groups/${encodeURIComponent(group)}`), [client]),
  );

  return (
    <Page
      title="Groups"
      description="Groups gather users, so a role granted to a group reaches all its members."
    >
      {isAdmin ? <CreateGroupForm onCreated={(group) => changed(`Created group "${group.name}"`)} /> : null}
      <Section
        title="All groups"
        actions={
          <button type="button" onClick={groups.reload} disabled={groups.loading}>
            Refresh
          </button>
        }
      >
        <Notice>{notice}</Notice>
        <ErrorMessage error={removeMember.error} title="Cannot remove the member" />
        <ErrorMessage error={deleteGroup.error} title="Cannot delete the group" />
        <ErrorMessage error={groups.error} title="Cannot load groups" />
        <datalist id={usernamesId}>
          {users.data?.map((user) => (
            <option key={user.id} value={user.username} />
          ))}
        </datalist>
        {groups.data === undefined ? (
          groups.loading ? (
            <Loading what="groups" />
          ) : null
        ) : groups.data.length === 0 ? (
          <Empty>No groups yet.{isAdmin ? ' Create one above.' : ''}</Empty>
        ) : (
          <div className="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Group</th>
                  <th scope="col">Description</th>
                  <th scope="col">Members</th>
                  <th scope="col">Created</th>
                  {isAdmin ? <th scope="col">Actions</th> : null}
                </tr>
              </thead>
              <tbody>
                {groups.data.map((group) => (
                  <tr key={group.id}>
                    <th scope="row">{group.name}</th>
                    <td>{group.description ?? '—'}</td>
                    <td>
                      {group.members.length === 0 ? (
                        <span className="muted">no members</span>
                      ) : (
                        <ul className="member-list" aria-label={`Members of group "${group.name}"`}>
                          {group.members.map((member) => (
                            <li key={member}>
                              <span>{member}</span>
                              {isAdmin ? (
                                <ConfirmButton
                                  label={`Remove "${member}" from group "${group.name}"`}
                                  title={`Remove "${member}" from group "${group.name}"?`}
                                  message="They lose every role they hold through this group."
                                  confirmLabel="Remove member"
                                  disabled={removeMember.pending}
                                  onConfirm={async () => {
                                    const result = await removeMember.run(group.name, member);
                                    if (result.ok) changed(`Removed "${member}" from group "${group.name}"`);
                                  }}
                                >
                                  Remove
                                </ConfirmButton>
                              ) : null}
                            </li>
                          ))}
                        </ul>
                      )}
                      {isAdmin ? (
                        <AddMemberForm
                          group={group.name}
                          usernamesId={usernamesId}
                          onAdded={(username) => changed(`Added "${username}" to group "${group.name}"`)}
                        />
                      ) : null}
                    </td>
                    <td>
                      <DateTime value={group.createdAt} />
                    </td>
                    {isAdmin ? (
                      <td>
                        <ConfirmButton
                          label={`Delete group "${group.name}"`}
                          title={`Delete group "${group.name}"?`}
                          message="Its memberships and every role granted to it are deleted too; its members lose those roles."
                          confirmLabel="Delete group"
                          disabled={deleteGroup.pending}
                          onConfirm={async () => {
                            const result = await deleteGroup.run(group.name);
                            if (result.ok) changed(`Deleted group "${group.name}"`);
                          }}
                        >
                          Delete
                        </ConfirmButton>
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

function CreateGroupForm({ onCreated }: { readonly onCreated: (group: Group) => void }) {
  const { client } = useSession();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const create = useAction(
    useCallback(
      (group: { name: string; description: string }) =>
        client.post<Group>('/api/groups', {
          name: group.name.trim(),
          ...(group.description.trim() ? { description: group.description.trim() } : {}),
        }),
      [client],
    ),
  );
  const errors = create.error?.fieldErrors() ?? {};

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const result = await create.run({ name, description });
    if (result.ok) {
      setName('');
      setDescription('');
      onCreated(result.value);
    }
  };

  return (
    <Section title="Create a group">
      <form className="form-grid" onSubmit={submit} aria-label="Create a group" noValidate>
        <ErrorMessage error={create.error} title="Cannot create the group" />
        <TextField
          label="Group name"
          name="name"
          help='Lowercase letters, digits, ".", "_" or "-", starting with a letter'
          autoComplete="off"
          autoCapitalize="none"
          spellCheck={false}
          value={name}
          onChange={(event) => setName(event.target.value)}
          error={errors.name}
        />
        <TextField
          label="Description (optional)"
          name="description"
          autoComplete="off"
          value={description}
          onChange={(event) => setDescription(event.target.value)}
          error={errors.description}
        />
        <div className="form-actions">
          <button type="submit" className="button-primary" disabled={create.pending}>
            {create.pending ? 'Creating…' : 'Create group'}
          </button>
        </div>
      </form>
    </Section>
  );
}

interface AddMemberFormProps {
  readonly group: string;
  /** The id of a datalist of usernames to suggest. */
  readonly usernamesId: string;
  readonly onAdded: (username: string) => void;
}

function AddMemberForm({ group, usernamesId, onAdded }: AddMemberFormProps) {
  const { client } = useSession();
  const [username, setUsername] = useState('');
  const add = useAction(
    useCallback(
      (member: string) =>
        client.post<Group>(`/api/groups/${encodeURIComponent(group)}/members`, { username: member }),
      [client, group],
    ),
  );

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const member = username.trim();
    const result = await add.run(member);
    if (result.ok) {
      setUsername('');
      onAdded(member);
    }
  };

  return (
    <form
      className="inline-form"
      onSubmit={submit}
      aria-label={`Add a member to group "${group}"`}
      noValidate
    >
      <TextField
        label={`Add a member to group "${group}"`}
        className="field-compact"
        hideLabel
        name="username"
        placeholder="username"
        list={usernamesId}
        autoComplete="off"
        autoCapitalize="none"
        spellCheck={false}
        value={username}
        onChange={(event) => setUsername(event.target.value)}
        error={add.error ? [add.error.message, add.error.hint].filter(Boolean).join('. ') : undefined}
      />
      <button type="submit" disabled={add.pending || username.trim() === ''}>
        Add member
      </button>
    </form>
  );
}
