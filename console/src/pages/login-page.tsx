import { type FormEvent, useEffect, useState } from 'react';
import { ErrorMessage } from '../components/error-message.tsx';
import { TextField } from '../components/field.tsx';
import { useAction } from '../components/use-action.ts';

/** Props of LoginPage. */
export interface LoginPageProps {
  /** Logs in; rejects with the server's error. */
  readonly onLogin: (username: string, password: string) => Promise<void>;
  /** Why the user is here again ("Your session has ended"). */
  readonly notice?: string | undefined;
}

/** The login form; shows the server's message and hint when login fails. */
export function LoginPage({ onLogin, notice }: LoginPageProps) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const login = useAction(onLogin);

  useEffect(() => {
    document.title = 'Log in · Slipway';
  }, []);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const result = await login.run(username.trim(), password);
    if (!result.ok) setPassword('');
  };
  const fieldErrors = login.error?.fieldErrors() ?? {};

  return (
    <main className="center-page">
      <div className="login-card">
        <h1>Log in to Slipway</h1>
        <p className="page-description">Log in with your Slipway username and password.</p>
        {notice && !login.error ? (
          <p className="message message-info" role="status">
            {notice}
          </p>
        ) : null}
        <ErrorMessage error={login.error} />
        <form onSubmit={submit} aria-label="Log in">
          <TextField
            label="Username"
            name="username"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            required
            value={username}
            onChange={(event) => setUsername(event.target.value)}
            error={fieldErrors.username}
          />
          <TextField
            label="Password"
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(event) => setPassword(event.target.value)}
            error={fieldErrors.password}
          />
          <button type="submit" className="button-primary" disabled={login.pending}>
            {login.pending ? 'Logging in…' : 'Log in'}
          </button>
        </form>
      </div>
    </main>
  );
}
