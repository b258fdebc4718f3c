import type { ReactNode } from 'react';

/** Props of Page. */
export interface PageProps {
  readonly title: string;
  /** One sentence on what the page is for. */
  readonly description?: ReactNode;
  readonly children: ReactNode;
}

/** The frame of every page: its heading, a short description, then the content. */
export function Page({ title, description, children }: PageProps) {
  return (
    <article className="page">
      <header className="page-header">
        <h1>{title}</h1>
        {description ? <p className="page-description">{description}</p> : null}
      </header>
      {children}
    </article>
  );
}

/** Props of Section. */
export interface SectionProps {
  readonly title: string;
  readonly children: ReactNode;
  /** Buttons shown next to the heading. */
  readonly actions?: ReactNode;
}

/** A titled part of a page (a form, a table). */
export function Section({ title, children, actions }: SectionProps) {
  return (
    <section className="section" aria-label={title}>
      <div className="section-header">
        <h2>{title}</h2>
        {actions ? <div className="button-row">{actions}</div> : null}
      </div>
      {children}
    </section>
  );
}

/** A loading note, announced to screen readers. */
export function Loading({ what }: { readonly what: string }) {
  return (
    <p className="loading" role="status">
      Loading {what}…
    </p>
  );
}

/** What an empty list says, and what to do about it. */
export function Empty({ children }: { readonly children: ReactNode }) {
  return <p className="empty">{children}</p>;
}
