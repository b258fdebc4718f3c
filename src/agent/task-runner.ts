import { spawn } from 'node:child_process';
import type { TaskSpec } from './desired-state.ts';
import type { TaskReport } from './report.ts';
import { resolveUser } from './users.ts';

const OUTPUT_TAIL = 4096;

/** Removes secret values from text. */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) if (secret.length >= 4) result = result.split(secret).join('[redacted]');
  return result;
}

/**
 * Runs one task (a release hook) once: its output's tail is kept with secret values removed, and it
 * is killed when it runs past its timeout.
 */
export function runTask(task: TaskSpec, onChange: (report: TaskReport) => void): Promise<TaskReport> {
  const startedAt = new Date().toISOString();
  const secrets = task.secretEnv.map((name) => task.env[name] ?? '').filter(Boolean);
  let output = '';
  const append = (chunk: Buffer | string) => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL * 2);
  };
  const finish = (state: TaskReport['state'], exitCode: number | null): TaskReport => ({
    id: task.id,
    name: task.name,
    state,
    exitCode,
    startedAt,
    finishedAt: state === 'running' ? null : new Date().toISOString(),
    output: redact(output, secrets).slice(-OUTPUT_TAIL),
  });
  return new Promise((resolve) => {
    let identity: { uid: number; gid: number } | undefined;
    try {
      identity = task.user ? resolveUser(task.user) : undefined;
    } catch (error) {
      append(`${(error as Error).message}\n`);
      resolve(finish('failed', null));
      return;
    }
    const [program, ...args] = task.command;
    const child = spawn(program!, args, {
      cwd: task.cwd ?? undefined,
      env: { ...task.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      ...(identity ? { uid: identity.uid, gid: identity.gid } : {}),
    });
    onChange(finish('running', null));
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    const timer = setTimeout(() => {
      append(`\n[slipway-agent] the task ran longer than ${task.timeoutMs}ms: killed\n`);
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, task.timeoutMs);
    let done = false;
    const end = (code: number | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(finish(code === 0 ? 'succeeded' : 'failed', code));
    };
    child.once('error', (error) => {
      append(`cannot start: ${error.message}\n`);
      end(null);
    });
    child.once('close', (code) => end(code));
  });
}
