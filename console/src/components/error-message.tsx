import type { ReactNode } from 'react';
import type { ApiError } from '../api/api-error.ts';

/** Props of ErrorMessage. */
export interface ErrorMessageProps {
  readonly error: ApiError | undefined;
  /** What was being done, shown first: "Cannot load users". */
  readonly title?: string;
}

/** The server's message and hint for a failed call, announced to screen readers. */
export function ErrorMessage({ error, title }: ErrorMessageProps) {
  if (!error) return null;
  return (
    <div className="message message-error" role="alert">
      {title ? <p className="message-title">{title}</p> : null}
      <p>{error.message}</p>
      {error.hint ? <p className="message-hint">{error.hint}</p> : null}
      {error.requestId ? <p className="message-meta">Request id: {error.requestId}</p> : null}
    </div>
  );
}

/** A short success note, announced politely. */
export function Notice({ children }: { readonly children: ReactNode }) {
  if (!children) return null;
  return (
    <p className="message message-success" role="status">
      {children}
    </p>
  );
}
