/**
 * The console session: who is logged in, what they hold, and how to log in and out. Pages read it
 * through `useSession()`.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { holdsRole } from './access.ts';
import type { ApiClient } from './api/api-client.ts';
import { type ApiError, toApiError } from './api/api-error.ts';
import type { Role, ScopeText, Session, WhoAmI } from './api/types.ts';
import { navigate } from './router.tsx';

/** Where the console is with the session. */
export type SessionState =
  | { readonly kind: 'checking' }
  | { readonly kind: 'signed-out'; readonly notice?: string }
  | { readonly kind: 'unreachable'; readonly error: ApiError }
  | { readonly kind: 'signed-in'; readonly session: Session; readonly whoami: WhoAmI };

/** What pages get from `useSession()`. */
export interface SessionContextValue {
  readonly client: ApiClient;
  readonly session: Session;
  readonly whoami: WhoAmI;
  /** Whether the user holds `role` (or a stronger one) on `scope` (default: the platform). */
  can(role: Role, scope?: ScopeText): boolean;
  /** Reads the user's groups and grants again (after a change to them). */
  refreshWhoami(): Promise<void>;
  logout(): Promise<void>;
}

const SessionContext = createContext<SessionContextValue | undefined>(undefined);

/** Provides the signed-in session to the pages. */
export const SessionProvider = SessionContext.Provider;

/** The signed-in session; only pages shown after login call this. */
export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession() is used outside a signed-in console');
  return value;
}

/** The session's life: checks the cookie at start, logs in and out, and notices when it ends. */
export function useSessionState(client: ApiClient) {
  const [state, setState] = useState<SessionState>({ kind: 'checking' });

  const signOutLocally = useCallback(
    (notice?: string) => {
      client.setCsrfToken(undefined);
      setState(notice ? { kind: 'signed-out', notice } : { kind: 'signed-out' });
    },
    [client],
  );

  const enter = useCallback(
    async (session: Session) => {
      client.setCsrfToken(session.csrfToken);
      const whoami = await client.get<WhoAmI>('/api/whoami');
      setState({ kind: 'signed-in', session, whoami });
    },
    [client],
  );

  const check = useCallback(async () => {
    setState({ kind: 'checking' });
    try {
      await enter(await client.get<Session>('/api/auth/session'));
    } catch (error) {
      const failure = toApiError(error);
      if (failure.status === 401) signOutLocally();
      else setState({ kind: 'unreachable', error: failure });
    }
  }, [client, enter, signOutLocally]);

  useEffect(() => {
    void check();
  }, [check]);

  useEffect(() => {
    client.onSessionEnded(() => signOutLocally('Your session has ended. Log in again to continue.'));
    return () => client.onSessionEnded(undefined);
  }, [client, signOutLocally]);

  /** Logs in; throws the server's error (wrong password, locked account) for the login form. */
  const login = useCallback(
    async (username: string, password: string) => {
      await enter(await client.post<Session>('/api/auth/login', { username, password }));
    },
    [client, enter],
  );

  const logout = useCallback(async () => {
    try {
      await client.post('/api/auth/logout');
    } catch (error) {
      // An ended session is what logging out wants; anything else the user must know about.
      if (toApiError(error).status !== 401) throw error;
    }
    signOutLocally();
    navigate('/');
  }, [client, signOutLocally]);

  const refreshWhoami = useCallback(async () => {
    const whoami = await client.get<WhoAmI>('/api/whoami');
    setState((current) => (current.kind === 'signed-in' ? { ...current, whoami } : current));
  }, [client]);

  const context = useMemo<SessionContextValue | undefined>(
    () =>
      state.kind === 'signed-in'
        ? {
            client,
            session: state.session,
            whoami: state.whoami,
            can: (role, scope) => holdsRole(state.whoami.grants, role, scope),
            refreshWhoami,
            logout,
          }
        : undefined,
    [client, state, refreshWhoami, logout],
  );

  return { state, context, login, retry: check };
}
