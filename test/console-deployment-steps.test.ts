/**
 * How the console's Deployments page reads a deployment's steps from its event log
 * (console/src/components/deployments/deployment-steps.ts): the lines the runner writes, in order.
 */
import { describe, expect, test } from 'vitest';
import { deploymentSteps } from '../console/src/components/deployments/deployment-steps.ts';
import type { Deployment, DeploymentEvent } from '../console/src/components/deployments/types.ts';

function deployment(state: Deployment['state'], finished = false): Deployment {
  return {
    id: 'd1',
    number: 1,
    environment: 'staging',
    app: 'shop',
    version: '1.1.0',
    previousVersion: '1.0.0',
    strategy: { strategy: 'rolling', batchSize: 1 },
    state,
    progress: { done: 0, total: 3, current: null },
    reason: null,
    trigger: 'manual',
    requestedBy: 'admin',
    createdAt: '2026-11-26T10:00:00.000Z',
    startedAt: '2026-11-26T10:00:00.000Z',
    finishedAt: finished ? '2026-11-26T10:05:00.000Z' : null,
  };
}

function events(...lines: (string | [DeploymentEvent['level'], string])[]): DeploymentEvent[] {
  return lines.map((line, index) => {
    const [level, message] = typeof line === 'string' ? (['info', line] as const) : line;
    return { id: index + 1, at: '2026-11-26T10:00:00.000Z', level, message };
  });
}

const summary = (result: ReturnType<typeof deploymentSteps>) =>
  result.steps.map(
    (s) => `${s.phase} ${s.number}/${s.total} ${s.status}: ${s.lines.map((l) => l.message).join(' | ')}`,
  );

describe('deploymentSteps()', () => {
  test('marks started steps done, the last one running, and counts the steps to go', () => {
    const result = deploymentSteps(
      deployment('predeploy'),
      events(
        'admin asked for shop 1.1.0 on staging',
        'planned a rolling rollout over web-1: 3 steps',
        '1/3: install the new release on web-1',
        '2/3: run the predeploy hook on web-1',
        'predeploy on web-1: migrate succeeded',
      ),
    );
    expect(summary(result)).toStrictEqual([
      'rollout 1/3 done: ',
      'rollout 2/3 running: predeploy on web-1: migrate succeeded',
    ]);
    expect(result.remaining).toBe(1);
  });

  test('a failure marks its step failed, and the rollback is a phase of its own', () => {
    const result = deploymentSteps(
      deployment('rolled_back', true),
      events(
        '1/3: install the new release on web-1',
        '2/3: run the predeploy hook on web-1',
        ['error', 'failed: predeploy on web-1 failed: exit code 1'],
        'rolling back: 1 step',
        '1/1: install the previous release on web-1',
        'rolled back: the previous release serves on the original hosts',
      ),
    );
    expect(summary(result)).toStrictEqual([
      'rollout 1/3 done: ',
      'rollout 2/3 failed: failed: predeploy on web-1 failed: exit code 1',
      'rollback 1/1 done: ',
    ]);
    expect(result.remaining).toBe(0);
  });

  test('a step repeated after a restart shows once, running again after the error that stopped it', () => {
    const result = deploymentSteps(
      deployment('rolling'),
      events(
        '1/3: drain web-1',
        ['error', 'the runner stopped: connection lost; retrying'],
        ['warn', 'resuming at step 1 after a control-plane restart'],
        '1/3: drain web-1',
      ),
    );
    expect(summary(result)).toStrictEqual([
      'rollout 1/3 running: the runner stopped: connection lost; retrying | resuming at step 1 after a control-plane restart',
    ]);
  });

  test('a succeeded deployment has every step done, without the summary line in a step', () => {
    const result = deploymentSteps(
      deployment('succeeded', true),
      events('1/1: install the new release on web-1', 'succeeded: every host runs the new release'),
    );
    expect(summary(result)).toStrictEqual(['rollout 1/1 done: ']);
  });
});
