/**
 * Pipelines benchmark: the time from a webhook received to the run's first step started, on the
 * built server running as its own process on the embedded PostgreSQL. Each sample pushes a new
 * commit to a bare repository, sends GitHub's signed push webhook, and reads the run's first step's
 * start time; the run is then cancelled so the next one does not wait for a slot.
 * Baseline in the same run: the webhook's own round trip (signature check, run queued, 202 answer).
 * Target: p99 < 500 ms.
 */
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateRootKey } from '../src/secrets/index.ts';
import { removeBenchDir, report, startBenchServer } from './support.ts';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 60);
const WARMUP = 3;
const PASSWORD = 'bench-admin-password';

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: '/nonexistent',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'Bench',
      GIT_AUTHOR_EMAIL: 'bench@example.org',
      GIT_COMMITTER_NAME: 'Bench',
      GIT_COMMITTER_EMAIL: 'bench@example.org',
    },
  })
    .toString()
    .trim();
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const repoRoot = await mkdtemp(join(tmpdir(), 'slipway-bench-repo-'));
// Apps' webhook secrets are sealed by the secret store: the server needs its root key.
const rootKeyFile = join(repoRoot, 'root.key');
await writeFile(rootKeyFile, `${generateRootKey()}\n`, { mode: 0o600 });
const server = await startBenchServer({ adminPassword: PASSWORD, rootKeyFile });
try {
  const call = async (method: string, path: string, body?: unknown, token?: string) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<any>;
  };
  const { value: token } = await call('POST', '/api/auth/token', {
    username: 'admin',
    password: PASSWORD,
    name: 'bench',
  });

  // A tiny app in a bare repository: the build sleeps, so the run is still in flight when cancelled.
  const bare = join(repoRoot, 'origin.git');
  const work = join(repoRoot, 'work');
  git(repoRoot, 'init', '--quiet', '--bare', '--initial-branch=master', bare);
  git(repoRoot, 'init', '--quiet', '--initial-branch=master', work);
  await mkdir(work, { recursive: true });
  await writeFile(
    join(work, 'slipway.yaml'),
    `app: bench-app\nversion: 1.0.0\nbuild:\n  steps:\n    - name: Wait\n      run: sleep 30\npackage:\n  name: bench-app\n  description: Bench\n  maintainer: Bench <bench@example.org>\n  architecture: all\n  files:\n    - from: slipway.yaml\n      to: /opt/bench-app/slipway.yaml\n`,
  );
  git(work, 'add', '--all');
  git(work, 'commit', '--quiet', '-m', 'first');
  git(work, 'push', '--quiet', bare, 'HEAD:refs/heads/master');
  const { webhookSecret } = await call('POST', '/api/apps', { name: 'bench-app', repository: bare }, token);

  const toStart: number[] = [];
  const roundTrip: number[] = [];
  for (let i = 0; i < SAMPLES + WARMUP; i++) {
    git(work, 'commit', '--quiet', '--allow-empty', '-m', `sample ${i}`);
    git(work, 'push', '--quiet', bare, 'HEAD:refs/heads/master');
    const commit = git(work, 'rev-parse', 'HEAD');
    const body = JSON.stringify({ ref: 'refs/heads/master', after: commit, pusher: { name: 'bench' } });
    const signature = createHmac('sha256', webhookSecret).update(body).digest('hex');
    const sent = Date.now();
    const started = performance.now();
    const answer = await fetch(`${server.url}/api/webhooks/bench-app`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-hub-signature-256': `sha256=${signature}`,
      },
      body,
    });
    const accepted = (await answer.json()) as { runs: string[] };
    const answered = performance.now() - started;
    const [app, number] = accepted.runs[0]!.split('/');
    let stepStarted: string | null = null;
    while (!stepStarted) {
      const run = await call('GET', `/api/apps/${app}/runs/${number}`, undefined, token);
      stepStarted = run.steps[0].startedAt;
      if (!stepStarted) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    if (i >= WARMUP) {
      toStart.push(Date.parse(stepStarted) - sent);
      roundTrip.push(answered);
    }
    await call('POST', `/api/apps/${app}/runs/${number}/cancel`, undefined, token);
    for (;;) {
      const run = await call('GET', `/api/apps/${app}/runs/${number}`, undefined, token);
      if (run.state !== 'running' && run.state !== 'queued') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  const row = (what: string, values: number[]) => ({
    measure: what,
    samples: values.length,
    'p50 ms': Math.round(percentile(values, 50)),
    'p99 ms': Math.round(percentile(values, 99)),
    'max ms': Math.round(Math.max(...values)),
  });
  const rows = [row('webhook answered (baseline)', roundTrip), row('webhook -> first step started', toStart)];
  report('pipelines: webhook to first build step', rows, {
    samples: toStart.length,
    p50Ms: rows[1]!['p50 ms'],
    p99Ms: rows[1]!['p99 ms'],
    baselineP50Ms: rows[0]!['p50 ms'],
    targetP99Ms: 500,
    met: rows[1]!['p99 ms'] < 500,
  });
} finally {
  await server.stop();
  await removeBenchDir(server.dataDir);
  await rm(repoRoot, { recursive: true, force: true });
}
