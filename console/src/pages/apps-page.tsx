import { type FormEvent, useCallback, useState } from 'react';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { DateTime } from '../components/date-time.tsx';
import { ErrorMessage, Notice } from '../components/error-message.tsx';
import { SelectField, TextField } from '../components/field.tsx';
import { Empty, Loading, Page, Section } from '../components/page.tsx';
import type { App, QueuedRun } from '../components/pipelines/types.ts';
import { withQuery } from '../components/pipelines/use-query-param.ts';
import { useAction } from '../components/use-action.ts';
import { useResource } from '../components/use-resource.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import '../components/pipelines/pipelines.css';

/** A webhook secret, shown the one time the server returns it. */
interface ShownSecret {
  readonly app: string;
  readonly webhookUrl: string;
  readonly secret: string;
}

/** Apps: register one (its webhook secret is shown once), start runs, rotate secrets, delete. */
export function AppsPage() {
  const { client, can } = useSession();
  const apps = useResource(useCallback(() => client.get<App[]>('/api/apps'), [client]));
  const [secret, setSecret] = useState<ShownSecret>();
  const [notice, setNotice] = useState<string>();
  const start = useAction(
    useCallback(
      (app: string) => client.post<QueuedRun>(`/api/apps/${encodeURIComponent(app)}/runs`, {}),
      [client],
    ),
  );
  const rotate = useAction(
    useCallback(
      (app: string) =>
        client.post<{ webhookSecret: string; webhookUrl: string }>(
          `/api/apps/${encodeURIComponent(app)}/webhook-secret`,
        ),
      [client],
    ),
  );
  const remove = useAction(
    useCallback((app: string) => client.delete<App>(`/api/apps/${encodeURIComponent(app)}`), [client]),
  );

  return (
    <Page
      title="Apps"
      description={
        <>
          An app is a git repository and a tracked branch: a push to that branch (a forge's webhook, the
          post-receive hook, or polling) builds, tests and packages it as described in its{' '}
          <code>slipway.yaml</code>.
        </>
      }
    >
      {can('developer') ? (
        <CreateAppForm
          onCreated={(created) => {
            setNotice(undefined);
            setSecret(created);
            apps.reload();
          }}
        />
      ) : null}
      {secret ? <SecretOnce shown={secret} onDone={() => setSecret(undefined)} /> : null}
      <Section
        title="Registered apps"
        actions={
          <button type="button" onClick={apps.reload} disabled={apps.loading}>
            Refresh
          </button>
        }
      >
        <Notice>{notice}</Notice>
        <ErrorMessage error={start.error} title="Cannot start a run" />
        <ErrorMessage error={rotate.error} title="Cannot rotate the webhook secret" />
        <ErrorMessage error={remove.error} title="Cannot delete the app" />
        <ErrorMessage error={apps.error} title="Cannot load apps" />
        {apps.data === undefined ? (
          apps.loading ? (
            <Loading what="apps" />
          ) : null
        ) : apps.data.length === 0 ? (
          <Empty>No app is registered yet.</Empty>
        ) : (
          <div className="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">App</th>
                  <th scope="col">Repository and branch</th>
                  <th scope="col">Builds</th>
                  <th scope="col">Latest build</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {apps.data.map((app) => (
                  <tr key={app.id}>
                    <th scope="row">
                      <Link href={withQuery('/runs', { app: app.name })}>{app.name}</Link>
                    </th>
                    <td>
                      <span className="mono">{app.repository}</span>
                      <br />
                      <span className="muted">
                        {app.branch}
                        {app.path !== '.' ? ` · ${app.path}/slipway.yaml` : ''}
                      </span>
                    </td>
                    <td>
                      network {app.network}, {app.concurrency} at a time
                      {app.pollIntervalSeconds ? `, polled every ${app.pollIntervalSeconds} s` : ''}
                      <br />
                      <span className="muted">
                        {app.hookInstalled ? 'git hook installed · ' : ''}keeps {app.retentionKeep} versions
                      </span>
                    </td>
                    <td>
                      {app.latestBuild ? (
                        <>
                          <Link href={withQuery('/artifacts', { app: app.name })}>
                            {app.latestBuild.version}
                          </Link>
                          <br />
                          <span className="muted">
                            <DateTime value={app.latestBuild.at} />
                          </span>
                        </>
                      ) : (
                        <span className="muted">none yet</span>
                      )}
                    </td>
                    <td>
                      <div className="button-row">
                        {can('developer') ? (
                          <>
                            <button
                              type="button"
                              aria-label={`Start a run of "${app.name}"`}
                              disabled={start.pending}
                              onClick={async () => {
                                const result = await start.run(app.name);
                                if (result.ok) setNotice(result.value.message);
                              }}
                            >
                              Build now
                            </button>
                            <ConfirmButton
                              label={`Rotate the webhook secret of "${app.name}"`}
                              title={`Rotate the webhook secret of "${app.name}"?`}
                              message="Webhooks signed with the current secret are refused from now on: update the forge's webhook settings with the new one."
                              confirmLabel="Rotate secret"
                              disabled={rotate.pending}
                              onConfirm={async () => {
                                const result = await rotate.run(app.name);
                                if (result.ok) {
                                  setSecret({
                                    app: app.name,
                                    secret: result.value.webhookSecret,
                                    webhookUrl: result.value.webhookUrl,
                                  });
                                }
                              }}
                            >
                              Rotate secret
                            </ConfirmButton>
                          </>
                        ) : null}
                        {can('admin') ? (
                          <ConfirmButton
                            label={`Delete app "${app.name}"`}
                            title={`Delete app "${app.name}"?`}
                            message="Its runs and their logs are deleted. Its artifacts stay in the repository."
                            confirmLabel="Delete app"
                            disabled={remove.pending}
                            onConfirm={async () => {
                              const result = await remove.run(app.name);
                              if (result.ok) {
                                setNotice(`Deleted app "${app.name}"`);
                                apps.reload();
                              }
                            }}
                          >
                            Delete
                          </ConfirmButton>
                        ) : null}
                      </div>
                    </td>
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

function CreateAppForm({ onCreated }: { readonly onCreated: (shown: ShownSecret) => void }) {
  const { client } = useSession();
  const [fields, setFields] = useState({
    name: '',
    repository: '',
    branch: 'master',
    path: '.',
    network: 'allowed',
  });
  const create = useAction(
    useCallback(
      (input: typeof fields) =>
        client.post<{ app: App; webhookSecret: string }>('/api/apps', {
          name: input.name.trim(),
          repository: input.repository.trim(),
          branch: input.branch.trim(),
          path: input.path.trim() || '.',
          network: input.network,
        }),
      [client],
    ),
  );
  const errors = create.error?.fieldErrors() ?? {};
  const set = (name: keyof typeof fields) => (event: { target: { value: string } }) =>
    setFields((current) => ({ ...current, [name]: event.target.value }));

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const result = await create.run(fields);
    if (result.ok) {
      setFields({ name: '', repository: '', branch: 'master', path: '.', network: 'allowed' });
      onCreated({
        app: result.value.app.name,
        secret: result.value.webhookSecret,
        webhookUrl: result.value.app.webhookUrl,
      });
    }
  };

  return (
    <Section title="Register an app">
      <form className="form-grid" onSubmit={submit} aria-label="Register an app" noValidate>
        <ErrorMessage error={create.error} title="Cannot register the app" />
        <TextField
          label="Name"
          name="name"
          help="Lowercase letters, digits and -"
          value={fields.name}
          onChange={set('name')}
          error={errors.name}
        />
        <TextField
          label="Repository"
          name="repository"
          help="https://…, git@host:owner/repo.git, or a path on the server"
          value={fields.repository}
          onChange={set('repository')}
          error={errors.repository}
        />
        <TextField
          label="Tracked branch"
          name="branch"
          value={fields.branch}
          onChange={set('branch')}
          error={errors.branch}
        />
        <TextField
          label="Directory of slipway.yaml"
          name="path"
          value={fields.path}
          onChange={set('path')}
          error={errors.path}
        />
        <SelectField
          label="Network during builds"
          name="network"
          options={[
            { value: 'allowed', label: 'allowed (package registries)' },
            { value: 'denied', label: 'denied (loopback only)' },
          ]}
          value={fields.network}
          onChange={set('network')}
          error={errors.network}
        />
        <div className="form-actions">
          <button type="submit" className="button-primary" disabled={create.pending}>
            {create.pending ? 'Registering…' : 'Register app'}
          </button>
        </div>
      </form>
    </Section>
  );
}

function SecretOnce({ shown, onDone }: { readonly shown: ShownSecret; readonly onDone: () => void }) {
  return (
    <section className="section secret-once" aria-label="Webhook secret">
      <h2>Copy the webhook secret of "{shown.app}" now</h2>
      <p>
        It is shown this once. In the forge's webhook settings, use the URL <code>{shown.webhookUrl}</code>,
        content type JSON, push events, and this secret:
      </p>
      <p>
        <code>{shown.secret}</code>
      </p>
      <p className="muted">
        For a bare repository on a server, run{' '}
        <code>slipway apps hook install {shown.app} --git-dir PATH</code> instead.
      </p>
      <div className="button-row">
        <button type="button" onClick={onDone}>
          Done, hide it
        </button>
      </div>
    </section>
  );
}
