import type { Deployment, DeploymentEvent } from './types.ts';
import { isFinished } from './types.ts';

/** Where a step of a deployment is. */
export type StepStatus = 'done' | 'running' | 'failed';

/** One action of a deployment's plan, as its log tells it, with the lines written while it ran. */
export interface DeploymentStep {
  /** The rollout's plan, or the rollback's (numbered from 1 again). */
  readonly phase: 'rollout' | 'rollback';
  readonly number: number;
  readonly total: number;
  /** "install the new release on web-1". */
  readonly description: string;
  readonly status: StepStatus;
  /** Hook output, canary measurements and errors written during the step. */
  readonly lines: readonly DeploymentEvent[];
}

/** The steps of both phases, and how many the current phase still has to start. */
export interface DeploymentSteps {
  readonly steps: readonly DeploymentStep[];
  /** Steps of the latest phase not yet started. */
  readonly remaining: number;
}

// The runner writes "3/8: drain web-1" as it starts each action (src/deployments/runner.ts).
const STEP_LINE = /^(\d+)\/(\d+): (.+)$/;
const ROLLBACK_LINE = /^rolling back: \d+ steps?$/;
// Lines about the whole deployment rather than the step that ran last.
const SUMMARY_LINE = /^(planned a |succeeded: |rolled back: )/;

interface Draft {
  phase: 'rollout' | 'rollback';
  number: number;
  total: number;
  description: string;
  lines: DeploymentEvent[];
  /** Whether an error was written since the step last started (a resumed step starts again). */
  erred: boolean;
}

/**
 * Reads a deployment's steps from its log. A step is done once a later one started or its phase
 * ended; the last started one runs while the deployment does, or failed when an error was written
 * during its last start. A step repeated after a control-plane restart shows once.
 */
export function deploymentSteps(deployment: Deployment, events: readonly DeploymentEvent[]): DeploymentSteps {
  const drafts: Draft[] = [];
  let phase: Draft['phase'] = 'rollout';
  let current: Draft | undefined;
  for (const event of events) {
    if (ROLLBACK_LINE.test(event.message)) {
      phase = 'rollback';
      current = undefined;
      continue;
    }
    const match = STEP_LINE.exec(event.message);
    if (match) {
      const number = Number(match[1]);
      const previous = drafts.findIndex((d) => d.phase === phase && d.number === number);
      const lines = previous >= 0 ? drafts.splice(previous, 1)[0]!.lines : [];
      current = { phase, number, total: Number(match[2]), description: match[3]!, lines, erred: false };
      drafts.push(current);
      continue;
    }
    if (SUMMARY_LINE.test(event.message)) {
      current = undefined;
      continue;
    }
    if (current) {
      current.lines.push(event);
      if (event.level === 'error') current.erred = true;
    }
  }
  const finished = isFinished(deployment);
  const steps = drafts.map((draft, index): DeploymentStep => {
    const later = drafts.slice(index + 1).some((d) => d.phase === draft.phase);
    const phaseEnded =
      finished || (draft.phase === 'rollout' && (phase === 'rollback' || deployment.state === 'verifying'));
    const status: StepStatus = later ? 'done' : draft.erred ? 'failed' : phaseEnded ? 'done' : 'running';
    const { erred: _, ...step } = draft;
    return { ...step, status };
  });
  const last = drafts.at(-1);
  const remaining = last && !finished ? Math.max(0, last.total - last.number) : 0;
  return { steps, remaining };
}
