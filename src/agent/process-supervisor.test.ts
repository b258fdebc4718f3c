import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { freePort } from '../store/testing.ts';
import { ProcessSupervisor } from './process-supervisor.ts';
import { eventually, processSpec, TINY_HTTP_SERVER } from './testing.ts';

let logs: string;
const supervisors: ProcessSupervisor[] = [];

function supervise(...args: Parameters<typeof processSpec>): ProcessSupervisor {
  const supervisor = new ProcessSupervisor(processSpec(...args), {
    logDirectory: logs,
    onChange: () => undefined,
  });
  supervisors.push(supervisor);
  supervisor.start();
  return supervisor;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeEach(async () => {
  logs = await mkdtemp(join(tmpdir(), 'slipway-supervisor-'));
});
afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((s) => s.stop()));
  await rm(logs, { recursive: true, force: true });
});

describe('ProcessSupervisor', () => {
  test('restarts a killed process with a backoff that doubles while runs stay short', async () => {
    // given
    const supervisor = supervise('sleeper', ['sleep', '30']);
    const first = await eventually(() => supervisor.report.pid, 5000, 'the first start');
    // when
    process.kill(first, 'SIGKILL');
    // then
    const backoff = await eventually(() =>
      supervisor.report.state === 'backoff' ? supervisor.report : undefined,
    );
    expect(backoff).toMatchObject({
      restarts: 1,
      backoffMs: 200,
      lastExit: { code: null, signal: 'SIGKILL' },
    });
    const second = await eventually(
      () => supervisor.report.state === 'running' && supervisor.report.pid !== first && supervisor.report.pid,
    );
    process.kill(second, 'SIGKILL');
    const again = await eventually(() =>
      supervisor.report.state === 'backoff' ? supervisor.report : undefined,
    );
    expect(again).toMatchObject({ restarts: 2, backoffMs: 400 });
    await eventually(() => supervisor.report.state === 'running' && supervisor.report.pid !== second);
  });

  test('stops gracefully with SIGTERM, and with SIGKILL after the stop timeout when ignored', async () => {
    const polite = supervise('polite', ['sleep', '30']);
    const stubborn = supervise('stubborn', ['sh', '-c', 'trap "" TERM; while :; do sleep 0.1; done'], {
      stopTimeoutMs: 300,
    });
    const [a, b] = await eventually(
      () => polite.report.pid && stubborn.report.pid && [polite.report.pid, stubborn.report.pid],
    );
    const started = Date.now();
    await polite.stop();
    expect(polite.report).toMatchObject({ state: 'stopped', lastExit: { signal: 'SIGTERM' } });
    expect(alive(a!)).toBe(false);
    await stubborn.stop();
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(stubborn.report.lastExit?.signal).toBe('SIGKILL');
    expect(alive(b!)).toBe(false);
    const log = await readFile(join(logs, 'stubborn.log'), 'utf8');
    expect(log).toContain('did not stop within 300ms of SIGTERM: sending SIGKILL');
  });

  test('captures output into a log that rotates by size', async () => {
    const supervisor = supervise(
      'chatty',
      ['sh', '-c', 'i=0; while [ $i -lt 400 ]; do echo "line $i of some output"; i=$((i+1)); done; sleep 30'],
      { logs: { maxBytes: 2048, keep: 2 } },
    );
    await eventually(async () => (await readdir(logs)).includes('chatty.log.2'), 5000, 'two rotations');
    const files = (await readdir(logs)).sort();
    expect(files).toStrictEqual(['chatty.log', 'chatty.log.1', 'chatty.log.2']);
    for (const file of files) expect((await readFile(join(logs, file))).length).toBeLessThanOrEqual(2048);
    await supervisor.stop();
  });

  test('reports health from HTTP checks: unknown, then healthy, then unhealthy when the answer fails', async () => {
    const port = await freePort();
    const supervisor = supervise('web', ['node', '-e', TINY_HTTP_SERVER], {
      env: { PATH: process.env.PATH ?? '', PORT: String(port) },
      healthCheck: { path: '/healthz', port, intervalMs: 100, timeoutMs: 100, rise: 2, fall: 2 },
      restart: { policy: 'always', initialDelayMs: 5000, maxDelayMs: 5000, resetAfterMs: 10_000 },
    });
    expect(supervisor.report.health.status).toBe('unknown');
    await eventually(() => supervisor.report.health.status === 'healthy', 5000, 'healthy');
    process.kill(supervisor.report.pid!, 'SIGKILL');
    await eventually(() => supervisor.report.state === 'backoff');
    expect(supervisor.report.health.status).toBe('unknown');
  });

  test('a program that cannot start is retried and says why', async () => {
    const supervisor = supervise('missing', ['/nonexistent/program']);
    await eventually(() => supervisor.report.restarts >= 1);
    expect(supervisor.report.message).toContain('cannot start');
  });
});
