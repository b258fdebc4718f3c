import { useCallback } from 'react';
import type { PlatformStatus } from '../api/types.ts';
import { DateTime } from '../components/date-time.tsx';
import { ErrorMessage } from '../components/error-message.tsx';
import { Empty, Loading, Page, Section } from '../components/page.tsx';
import { useResource } from '../components/use-resource.ts';
import { formatDetails, formatDuration } from '../format.ts';
import { useSession } from '../session.tsx';

/** The start page: who you are and what you hold, and how the platform is doing. */
export function OverviewPage() {
  const { can } = useSession();
  return (
    <Page title="Overview" description="Your access, and the state of this Slipway control plane.">
      <YourAccess />
      {can('viewer') ? (
        <PlatformStatusSection />
      ) : (
        <Section title="Platform status">
          <p>Platform status needs role "viewer" on the platform.</p>
        </Section>
      )}
    </Page>
  );
}

function YourAccess() {
  const { whoami, session } = useSession();
  return (
    <Section title="Your access">
      <dl className="facts">
        <dt>Username</dt>
        <dd>{whoami.username}</dd>
        <dt>Groups</dt>
        <dd>{whoami.groups.length > 0 ? whoami.groups.join(', ') : 'none'}</dd>
        <dt>Session ends</dt>
        <dd>
          <DateTime value={session.expiresAt} />
        </dd>
      </dl>
      {whoami.grants.length === 0 ? (
        <Empty>You hold no roles yet. Ask an administrator to grant you one.</Empty>
      ) : (
        <table>
          <caption>Your roles</caption>
          <thead>
            <tr>
              <th scope="col">Role</th>
              <th scope="col">Scope</th>
              <th scope="col">Through</th>
            </tr>
          </thead>
          <tbody>
            {whoami.grants.map((grant) => (
              <tr key={`${grant.role}|${grant.scope}|${grant.viaGroup ?? ''}`}>
                <td>{grant.role}</td>
                <td>{grant.scope}</td>
                <td>{grant.viaGroup ? `group ${grant.viaGroup}` : 'your own binding'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function PlatformStatusSection() {
  const { client } = useSession();
  const status = useResource(useCallback(() => client.get<PlatformStatus>('/api/status'), [client]));
  return (
    <Section
      title="Platform status"
      actions={
        <button type="button" onClick={status.reload} disabled={status.loading}>
          Refresh
        </button>
      }
    >
      <ErrorMessage error={status.error} title="Cannot read the platform status" />
      {status.data ? (
        <dl className="facts">
          <dt>Version</dt>
          <dd>{status.data.version}</dd>
          <dt>Up for</dt>
          <dd>
            {formatDuration(status.data.uptimeSeconds)} (since <DateTime value={status.data.startedAt} />)
          </dd>
          <dt>Store</dt>
          <dd>
            {status.data.store.location}:{' '}
            <span className={status.data.store.reachable ? 'badge badge-ok' : 'badge badge-bad'}>
              {status.data.store.reachable ? 'reachable' : 'unreachable'}
            </span>
          </dd>
          {Object.entries(status.data.components).map(([name, value]) => (
            <ComponentFact key={name} name={name} value={value} />
          ))}
        </dl>
      ) : status.loading ? (
        <Loading what="the platform status" />
      ) : null}
    </Section>
  );
}

/** One component of the status (job queue, leader loops): booleans as yes/no, the rest as JSON. */
function ComponentFact({ name, value }: { readonly name: string; readonly value: unknown }) {
  const isFlagMap =
    typeof value === 'object' &&
    value !== null &&
    Object.values(value).every((flag) => typeof flag === 'boolean');
  return (
    <>
      <dt>{name.charAt(0).toUpperCase() + name.slice(1)}</dt>
      <dd>
        {isFlagMap
          ? Object.entries(value as Record<string, boolean>)
              .map(([key, flag]) => `${key}: ${flag ? 'yes' : 'no'}`)
              .join(', ') || '—'
          : formatDetails(value)}
      </dd>
    </>
  );
}
