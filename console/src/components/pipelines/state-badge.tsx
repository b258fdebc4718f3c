import type { RunState, StepState } from './types.ts';

const CLASS: Readonly<Record<RunState | StepState, string>> = {
  queued: 'badge pipeline-badge-waiting',
  pending: 'badge pipeline-badge-waiting',
  running: 'badge pipeline-badge-running',
  succeeded: 'badge badge-ok',
  failed: 'badge badge-bad',
  cancelled: 'badge badge-denied',
  skipped: 'badge pipeline-badge-waiting',
};

/** A run's or step's state as a coloured badge (the word is always there, colour is extra). */
export function StateBadge({ state }: { readonly state: RunState | StepState }) {
  return <span className={CLASS[state]}>{state}</span>;
}
