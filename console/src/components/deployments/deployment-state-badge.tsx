import type { DeploymentState } from './types.ts';

const CLASS: Readonly<Record<DeploymentState, string>> = {
  pending: 'badge pipeline-badge-waiting',
  predeploy: 'badge pipeline-badge-running',
  rolling: 'badge pipeline-badge-running',
  postdeploy: 'badge pipeline-badge-running',
  verifying: 'badge pipeline-badge-running',
  succeeded: 'badge badge-ok',
  failed: 'badge badge-bad',
  rolling_back: 'badge deployment-badge-back',
  rolled_back: 'badge deployment-badge-back',
};

/** A deployment's state as a coloured badge ("rolling back", the word is always there). */
export function DeploymentStateBadge({ state }: { readonly state: DeploymentState }) {
  return <span className={CLASS[state]}>{state.replace('_', ' ')}</span>;
}
