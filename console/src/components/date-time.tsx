import { formatDateTime } from '../format.ts';

/** A machine-readable time shown in the reader's locale. */
export function DateTime({ value }: { readonly value: string | null | undefined }) {
  if (!value) return <>—</>;
  return (
    <time dateTime={value} title={value}>
      {formatDateTime(value)}
    </time>
  );
}
