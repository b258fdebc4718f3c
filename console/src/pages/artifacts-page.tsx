import { type FormEvent, Fragment, useCallback, useState } from 'react';
import { environmentScopes } from '../access.ts';
import { DateTime } from '../components/date-time.tsx';
import { ErrorMessage, Notice } from '../components/error-message.tsx';
import { TextField } from '../components/field.tsx';
import { Empty, Loading, Page, Section } from '../components/page.tsx';
import type { Artifact, ArtifactDetails, Channel } from '../components/pipelines/types.ts';
import { useQueryParam, withQuery } from '../components/pipelines/use-query-param.ts';
import { useAction } from '../components/use-action.ts';
import { useResource } from '../components/use-resource.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import '../components/pipelines/pipelines.css';

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

function artifactPath(app: string, version: string): string {
  return `/api/artifacts/${encodeURIComponent(app)}/${encodeURIComponent(version)}`;
}

/** The artifact repository: versions with their build metadata, channels, promotion and APT. */
export function ArtifactsPage() {
  const [app, setApp] = useQueryParam('app');
  const [version, setVersion] = useQueryParam('version');
  const [channel, setChannel] = useQueryParam('channel');
  // A promotion changes the list's channels and the channels' contents: both read again.
  const [changes, setChanges] = useState(0);
  return (
    <Page
      title="Artifacts"
      description="Every successful run publishes an immutable .deb here. Promoting a version adds it to an environment's channel, an APT repository its hosts install from."
    >
      {app && version ? (
        <ArtifactView
          app={app}
          version={version}
          onClose={() => setVersion(undefined)}
          onPromoted={() => setChanges((n) => n + 1)}
        />
      ) : null}
      <ArtifactList
        changes={changes}
        app={app}
        channel={channel}
        onFilter={(next) => {
          setApp(next.app);
          setChannel(next.channel);
        }}
      />
      <Channels changes={changes} />
    </Page>
  );
}

function ArtifactList({
  changes,
  app,
  channel,
  onFilter,
}: {
  readonly changes: number;
  readonly app: string | undefined;
  readonly channel: string | undefined;
  readonly onFilter: (filter: { app: string | undefined; channel: string | undefined }) => void;
}) {
  const { client } = useSession();
  const [search, setSearch] = useState('');
  const [query, setQuery] = useState<string>();
  const [appField, setAppField] = useState(app ?? '');
  const [channelField, setChannelField] = useState(channel ?? '');
  const artifacts = useResource(
    // biome-ignore lint/correctness/useExhaustiveDependencies: `changes` is the reload trigger.
    useCallback(
      () => client.get<Artifact[]>('/api/artifacts', { app, channel, search: query, limit: 200 }),
      [client, app, channel, query, changes],
    ),
  );
  return (
    <Section
      title="Versions"
      actions={
        <button type="button" onClick={artifacts.reload} disabled={artifacts.loading}>
          Refresh
        </button>
      }
    >
      <form
        className="filter-bar"
        aria-label="Filter versions"
        onSubmit={(event) => {
          event.preventDefault();
          setQuery(search.trim() || undefined);
          onFilter({ app: appField.trim() || undefined, channel: channelField.trim() || undefined });
        }}
      >
        <TextField
          className="field-compact"
          label="App"
          name="app"
          value={appField}
          onChange={(e) => setAppField(e.target.value)}
        />
        <TextField
          className="field-compact"
          label="Channel"
          name="channel"
          value={channelField}
          onChange={(e) => setChannelField(e.target.value)}
        />
        <TextField
          className="field-compact"
          label="Search"
          name="search"
          help="version, package or commit"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
        <button type="submit">Show</button>
      </form>
      <ErrorMessage error={artifacts.error} title="Cannot load artifacts" />
      {artifacts.data === undefined ? (
        artifacts.loading ? (
          <Loading what="artifacts" />
        ) : null
      ) : artifacts.data.length === 0 ? (
        <Empty>No version matches.</Empty>
      ) : (
        <div className="table-scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">App</th>
                <th scope="col">Size</th>
                <th scope="col">Commit and run</th>
                <th scope="col">Channels</th>
                <th scope="col">Built</th>
              </tr>
            </thead>
            <tbody>
              {artifacts.data.map((artifact) => (
                <tr key={artifact.id}>
                  <th scope="row" className="mono">
                    <Link href={withQuery('/artifacts', { app: artifact.app, version: artifact.version })}>
                      {artifact.version}
                    </Link>
                  </th>
                  <td>{artifact.app}</td>
                  <td>{formatSize(artifact.size)}</td>
                  <td className="mono">
                    {artifact.metadata.commit?.slice(0, 12) ?? '—'}
                    {artifact.metadata.run ? (
                      <>
                        {' '}
                        <Link href={withQuery('/runs', { run: artifact.metadata.run })}>
                          {artifact.metadata.run}
                        </Link>
                      </>
                    ) : null}
                  </td>
                  <td>
                    {artifact.channels.length > 0 ? (
                      artifact.channels.join(', ')
                    ) : (
                      <span className="muted">none</span>
                    )}
                    {artifact.deployedTo.length > 0 ? (
                      <span className="muted"> · deployed to {artifact.deployedTo.join(', ')}</span>
                    ) : null}
                  </td>
                  <td>
                    <DateTime value={artifact.createdAt} />
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

function ArtifactView({
  app,
  version,
  onClose,
  onPromoted,
}: {
  readonly app: string;
  readonly version: string;
  readonly onClose: () => void;
  readonly onPromoted: () => void;
}) {
  const { client, whoami, can } = useSession();
  const path = artifactPath(app, version);
  const artifact = useResource(useCallback(() => client.get<ArtifactDetails>(path), [client, path]));
  const [channel, setChannel] = useState('');
  const [notice, setNotice] = useState<string>();
  const promote = useAction(
    useCallback(
      (target: string) =>
        client.post<{ channel: string; revision: number; alreadyPromoted: boolean }>(`${path}/promote`, {
          channel: target,
        }),
      [client, path],
    ),
  );
  // Deployers promote to the environments they deploy to; a platform deployer to any.
  const deployable = can('deployer')
    ? undefined
    : environmentScopes(whoami.grants)
        .map((scope) => scope.replace(/^environment:/, ''))
        .filter((environment) => can('deployer', `environment:${environment}`));
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const result = await promote.run(channel.trim());
    if (result.ok) {
      setNotice(
        result.value.alreadyPromoted
          ? `${version} is already in channel ${result.value.channel}`
          : `Promoted ${version} to channel ${result.value.channel} (index revision ${result.value.revision})`,
      );
      artifact.reload();
      onPromoted();
    }
  };
  const errors = promote.error?.fieldErrors() ?? {};
  const data = artifact.data;
  return (
    <Section
      title={`${app} ${version}`}
      actions={
        <>
          <a href={`${path}/file`} download>
            Download .deb
          </a>
          <button type="button" onClick={onClose}>
            Close
          </button>
        </>
      }
    >
      <Notice>{notice}</Notice>
      <ErrorMessage error={artifact.error} title="Cannot load the version" />
      {data ? (
        <>
          <dl className="facts">
            <dt>File</dt>
            <dd className="mono">
              {data.filename} ({formatSize(data.size)})
            </dd>
            <dt>SHA-256</dt>
            <dd className="mono">{data.sha256}</dd>
            <dt>Commit</dt>
            <dd className="mono">
              {data.metadata.commit ?? '—'} {data.metadata.branch ? `on ${data.metadata.branch}` : ''}
            </dd>
            <dt>Run</dt>
            <dd>
              {data.metadata.run ? (
                <Link href={withQuery('/runs', { run: data.metadata.run })}>{data.metadata.run}</Link>
              ) : (
                '—'
              )}
            </dd>
            <dt>Built</dt>
            <dd>
              <DateTime value={data.metadata.buildTime ?? data.createdAt} />{' '}
              {data.metadata.builder ? `by ${data.metadata.builder}` : ''}
            </dd>
            <dt>Channels</dt>
            <dd>{data.channels.length > 0 ? data.channels.join(', ') : 'none'}</dd>
            <dt>Deployed to</dt>
            <dd>{data.deployedTo.length > 0 ? data.deployedTo.join(', ') : 'nowhere yet'}</dd>
          </dl>
          <h3>Control fields</h3>
          <dl className="facts">
            {Object.entries(data.control).map(([name, value]) => (
              <Fragment key={name}>
                <dt>{name}</dt>
                <dd className="mono pre-line">{value}</dd>
              </Fragment>
            ))}
          </dl>
          {deployable === undefined || deployable.length > 0 ? (
            <form className="inline-form" onSubmit={submit} aria-label="Promote to a channel" noValidate>
              <ErrorMessage error={promote.error} title="Cannot promote" />
              <TextField
                label="Promote to channel"
                name="channel"
                help={
                  deployable ? `You deploy to: ${deployable.join(', ')}` : 'An environment name, like staging'
                }
                value={channel}
                onChange={(e) => setChannel(e.target.value)}
                error={errors.channel}
              />
              <button
                type="submit"
                className="button-primary"
                disabled={promote.pending || channel.trim() === ''}
              >
                Promote
              </button>
            </form>
          ) : null}
        </>
      ) : artifact.loading ? (
        <Loading what="the version" />
      ) : null}
    </Section>
  );
}

function Channels({ changes }: { readonly changes: number }) {
  const { client } = useSession();
  const channels = useResource(
    // biome-ignore lint/correctness/useExhaustiveDependencies: `changes` is the reload trigger.
    useCallback(() => client.get<Channel[]>('/api/channels'), [client, changes]),
  );
  return (
    <Section title="Channels">
      <p className="muted">
        Each channel is an APT repository signed with Slipway's key (
        <a href="/apt/slipway.asc">slipway.asc</a>). Hosts read it with a token of a user holding viewer on
        the environment, in <code>/etc/apt/auth.conf.d/</code>; run{' '}
        <code>slipway artifacts apt-source CHANNEL</code> for the exact lines.
      </p>
      <ErrorMessage error={channels.error} title="Cannot load channels" />
      {channels.data === undefined ? (
        channels.loading ? (
          <Loading what="channels" />
        ) : null
      ) : channels.data.length === 0 ? (
        <Empty>No channel yet: promote a version to create one.</Empty>
      ) : (
        <div className="table-scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Channel</th>
                <th scope="col">Versions</th>
                <th scope="col">Index revision</th>
                <th scope="col">Changed</th>
                <th scope="col">apt sources line</th>
              </tr>
            </thead>
            <tbody>
              {channels.data.map((channel) => (
                <tr key={channel.name}>
                  <th scope="row">
                    <Link href={withQuery('/artifacts', { channel: channel.name })}>{channel.name}</Link>
                  </th>
                  <td>{channel.artifacts}</td>
                  <td>{channel.revision}</td>
                  <td>
                    <DateTime value={channel.updatedAt} />
                  </td>
                  <td className="mono">{channel.sourcesLine}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
