import { useState } from 'react';
import { ApiClient } from './api/api-client.ts';
import { ErrorMessage } from './components/error-message.tsx';
import { Layout } from './components/layout.tsx';
import { LoginPage } from './pages/login-page.tsx';
import { SessionProvider, useSessionState } from './session.tsx';

/** The console: checks the session, then shows the login page or the signed-in layout. */
export function App() {
  const [client] = useState(() => new ApiClient());
  const { state, context, login, retry } = useSessionState(client);

  switch (state.kind) {
    case 'checking':
      return (
        <p className="loading loading-page" role="status">
          Loading the Slipway console…
        </p>
      );
    case 'unreachable':
      return (
        <main className="center-page">
          <ErrorMessage error={state.error} title="Cannot start the console" />
          <button type="button" onClick={() => void retry()}>
            Try again
          </button>
        </main>
      );
    case 'signed-out':
      return <LoginPage onLogin={login} notice={state.notice} />;
    case 'signed-in':
      return (
        <SessionProvider value={context}>
          <Layout />
        </SessionProvider>
      );
  }
}
