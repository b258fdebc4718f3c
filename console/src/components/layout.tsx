import { type ReactNode, useEffect, useRef } from 'react';
import { canSee, describeAccess, findEntry, visibleSections } from '../navigation.ts';
import { Link, usePath } from '../router.tsx';
import { useSession } from '../session.tsx';
import { ErrorMessage } from './error-message.tsx';
import { Page } from './page.tsx';
import { useAction } from './use-action.ts';

/** The signed-in console: header with the user, side navigation, and the current page. */
export function Layout() {
  const { whoami, session, logout } = useSession();
  const path = usePath();
  const entry = findEntry(path);
  const allowed = entry ? canSee(entry, whoami.grants) : false;
  const loggingOut = useAction(logout);

  const main = useRef<HTMLElement>(null);
  const shownPath = useRef(path);

  useEffect(() => {
    document.title = `${entry?.label ?? 'Page not found'} · Slipway`;
  }, [entry]);
  useEffect(() => {
    // After a page change, start keyboard and screen-reader users at the new page, not at the old link.
    if (shownPath.current === path) return;
    shownPath.current = path;
    main.current?.focus();
  }, [path]);

  let content: ReactNode;
  if (!entry) {
    content = (
      <Page title="Page not found">
        <p>
          The console has no page at <code>{path}</code>. <Link href="/">Go to the overview</Link>.
        </p>
      </Page>
    );
  } else if (!allowed) {
    content = (
      <Page title={entry.label}>
        <div className="message message-error" role="alert">
          <p>Not allowed: this page needs {describeAccess(entry.access)}</p>
          <p className="message-hint">Ask an administrator to grant you that role</p>
        </div>
      </Page>
    );
  } else {
    const Component = entry.component;
    content = <Component />;
  }

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link href="/" className="brand">
          Slipway
        </Link>
        <div className="topbar-user">
          <span>
            Signed in as <strong data-testid="current-user">{whoami.username}</strong>
            {session.user.displayName ? ` (${session.user.displayName})` : ''}
          </span>
          <button type="button" onClick={() => void loggingOut.run()} disabled={loggingOut.pending}>
            {loggingOut.pending ? 'Logging out…' : 'Log out'}
          </button>
        </div>
      </header>
      <ErrorMessage error={loggingOut.error} title="Cannot log out" />
      <div className="shell-body">
        <nav className="sidebar" aria-label="Main">
          {visibleSections(whoami.grants).map(({ section, entries }) => (
            <div key={section} className="nav-section">
              <h2 className="nav-section-title">{section}</h2>
              <ul>
                {entries.map((item) => (
                  <li key={item.path}>
                    <Link href={item.path} aria-current={item === entry ? 'page' : undefined}>
                      {item.label}
                    </Link>
                  </li>
                ))}
              </ul>
            </div>
          ))}
        </nav>
        <main id="main" className="content" tabIndex={-1} ref={main}>
          {content}
        </main>
      </div>
    </div>
  );
}
