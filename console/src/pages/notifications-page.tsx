import { useCallback } from 'react';
import { DateTime } from '../components/date-time.tsx';
import { ErrorMessage } from '../components/error-message.tsx';
import { Empty, Loading, Page, Section } from '../components/page.tsx';
import { useResource } from '../components/use-resource.ts';
import { useSession } from '../session.tsx';

/** A notification as the API lists it. */
interface NotificationView {
  readonly id: string;
  readonly event: string;
  readonly title: string;
  readonly text: string;
  readonly link: string | null;
  readonly app: string | null;
  readonly environment: string | null;
  readonly audience: string;
  readonly createdAt: string;
  readonly deliveries: readonly {
    readonly channel: string;
    readonly recipient: string | null;
    readonly status: 'pending' | 'sent' | 'failed' | 'skipped';
    readonly attempts: number;
    readonly lastError: string | null;
  }[];
}

function deliverySummary(n: NotificationView): string {
  if (n.deliveries.length === 0) return 'no channel configured';
  const counts = new Map<string, number>();
  for (const d of n.deliveries) counts.set(d.status, (counts.get(d.status) ?? 0) + 1);
  return [...counts].map(([status, count]) => `${count} ${status}`).join(', ');
}

/** Notifications the user may see (integration results, deploys), newest first, with each delivery. */
export function NotificationsPage() {
  const { client } = useSession();
  const list = useResource(
    useCallback(() => client.get<NotificationView[]>('/api/notifications', { limit: 100 }), [client]),
  );
  return (
    <Page
      title="Notifications"
      description="What Slipway told people: integration results, deployments. Each is sent by email to its audience and to every webhook channel."
    >
      <Section
        title="Latest"
        actions={
          <button type="button" onClick={list.reload} disabled={list.loading}>
            Refresh
          </button>
        }
      >
        <ErrorMessage error={list.error} title="Cannot load notifications" />
        {list.data === undefined ? (
          list.loading ? (
            <Loading what="notifications" />
          ) : null
        ) : list.data.length === 0 ? (
          <Empty>No notifications yet.</Empty>
        ) : (
          <ul className="notification-list">
            {list.data.map((n) => (
              <li key={n.id} data-testid="notification">
                <article>
                  <h3>{n.title}</h3>
                  <p className="muted">
                    <DateTime value={n.createdAt} /> · {n.event}
                    {n.environment ? ` · ${n.environment}` : ''} · to {n.audience}
                  </p>
                  <p className="pre-line">{n.text}</p>
                  {n.link ? (
                    <p>
                      <a href={n.link}>Open</a>
                    </p>
                  ) : null}
                  <details>
                    <summary>Deliveries: {deliverySummary(n)}</summary>
                    <table>
                      <thead>
                        <tr>
                          <th scope="col">Channel</th>
                          <th scope="col">Recipient</th>
                          <th scope="col">Status</th>
                          <th scope="col">Attempts</th>
                          <th scope="col">Last error</th>
                        </tr>
                      </thead>
                      <tbody>
                        {n.deliveries.map((d, i) => (
                          <tr key={`${d.channel}-${d.recipient ?? i}`}>
                            <td>{d.channel}</td>
                            <td>{d.recipient ?? 'webhook'}</td>
                            <td>{d.status}</td>
                            <td>{d.attempts}</td>
                            <td>{d.lastError ?? '-'}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </details>
                </article>
              </li>
            ))}
          </ul>
        )}
      </Section>
    </Page>
  );
}
