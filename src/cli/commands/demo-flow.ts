/**
 * Slipway's main job, shown by `slipway demo` on the embedded default: the reference app
 * (examples/laravel-app) in a git repository of its own whose bare origin has Slipway's post-receive
 * hook, and the example infrastructure repository (examples/infrastructure) with integration and
 * staging on the local provider. A push to master builds, unit-tests, packages and publishes the
 * .deb, deploys it to integration, runs the regression suite there and tells staging's
 * administrators (an SMTP server of the demo's own catches the email); then one action deploys it to
 * staging. Every stage is a step with a result, for `slipway demo` and `slipway demo --check`.
 */
import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomToken } from '../../core/index.ts';
import { type MailCatcher, startMailCatcher } from '../../notifications/index.ts';
import { installPostReceiveHook, git as runGit } from '../../pipelines/index.ts';
import type { ApiClient } from '../api-client.ts';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
const APP = 'laravel-app';

/** One stage: its name, and what it does (a short note on success; it throws on failure). */
export type FlowStep = readonly [name: string, run: () => Promise<string | undefined>];

/** Where the demo keeps its repositories and mailbox. */
export interface DeliveryFlow {
  readonly steps: FlowStep[];
  /** URLs and places worth showing once the steps ran. */
  summary(): string[];
  /** Destroys the demo's environments (with --check) and stops the mailbox. */
  stop(options: { destroy: boolean }): Promise<void>;
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Git as Slipway runs it (no user configuration), with the demo as the author of its commits. */
async function git(cwd: string, ...args: string[]): Promise<string> {
  const identity = ['-c', 'user.name=Slipway demo', '-c', 'user.email=demo@slipway.invalid'];
  return (await runGit([...identity, ...args], { cwd })).trim();
}

/** Copies an example into a new git working copy (its .gitignore decides what is committed). */
async function repositoryFrom(example: string, work: string, branch: string, message: string): Promise<void> {
  await cp(join(EXAMPLES, example), work, {
    recursive: true,
    filter: (source) => !/\/(node_modules|vendor|\.data|\.git)(\/|$)/.test(source),
  });
  await git(work, 'init', '--quiet', `--initial-branch=${branch}`);
  await git(work, 'add', '--all');
  await git(work, 'commit', '--quiet', '-m', message);
}

async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  everyMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(
    `${what}: not done within ${Math.round(timeoutMs / 1000)} s. Look at where it stands in the console ` +
      '(or with `slipway env show`, `slipway runs logs`, `slipway deployments logs`), then run the demo again',
  );
}

interface EnvironmentView {
  status: string;
  lastApply: { id: string; status: string; error?: string | null } | null;
  waitingPlan: { id: string } | null;
  loadBalancer: { endpoints: { url: string }[] } | null;
}

interface RunView {
  state: string;
  version: string | null;
  error: string | null;
  steps: { name: string; state: string }[];
}

/**
 * The delivery flow's steps against a running control plane. `api` must be the administrator's;
 * `progress` shows lines while long steps run.
 */
export async function deliveryFlow(options: {
  api: () => ApiClient;
  serverUrl: () => string;
  dataDir: string;
  progress: (line: string) => void;
}): Promise<DeliveryFlow> {
  const root = join(options.dataDir, 'demo');
  await mkdir(root, { recursive: true, mode: 0o711 });
  await chmod(options.dataDir, 0o711); // the build user and the postgres user pass through
  const appWork = join(root, 'laravel-app');
  const appBare = join(root, 'laravel-app.git');
  const infraWork = join(root, 'infrastructure');
  let mail: MailCatcher | undefined;
  let version: string | undefined;
  const api = () => options.api();
  const environment = (name: string) =>
    api()
      .get<EnvironmentView>(`/api/environments/${name}`)
      .catch(() => undefined);
  const lbUrl = async (name: string) =>
    (await environment(name))?.loadBalancer?.endpoints[0]?.url.replace(/\/$/, '');

  const waitApplied = async (name: string): Promise<string> => {
    const view = await waitUntil(`applying ${name}`, 600_000, async () => {
      const v = await environment(name);
      const status = v?.lastApply?.status;
      return status === 'succeeded' || status === 'failed' ? v : undefined;
    });
    check(view.lastApply!.status === 'succeeded', `${name} failed to apply: ${view.lastApply!.error ?? ''}`);
    return `${name} at ${await lbUrl(name)}`;
  };

  const steps: FlowStep[] = [
    [
      'a mailbox for the demo (an SMTP server of its own) and staging administrator "stella"',
      async () => {
        mail = await startMailCatcher({ dir: join(root, 'mail') });
        // The mailbox gets a new port at every start: the channel is made again to point at it.
        const channels = await api().get<{ name: string }[]>('/api/notification-channels');
        if (channels.some((c) => c.name === 'demo-mail'))
          await api().delete('/api/notification-channels/demo-mail');
        await api().post('/api/notification-channels', {
          kind: 'email',
          name: 'demo-mail',
          smtp: { host: mail.host, port: mail.port, from: 'Slipway demo <slipway@demo.invalid>' },
        });
        const users = await api().get<{ username: string }[]>('/api/users');
        if (!users.some((u) => u.username === 'stella')) {
          await api().post('/api/users', {
            username: 'stella',
            password: `stella-${randomToken(12)}`,
            email: 'stella@demo.invalid',
          });
          await api().post('/api/role-bindings', {
            subject: 'user:stella',
            role: 'admin',
            scope: 'environment:staging',
          });
        }
        return `SMTP on ${mail.host}:${mail.port}, mail kept in ${mail.dir}`;
      },
    ],
    [
      'the infrastructure repository: integration applies itself, staging waits for an administrator',
      async () => {
        for (const name of ['integration', 'staging']) {
          const key = `base64:${randomBytes(32).toString('base64')}`;
          const present = await api()
            .get(`/api/secrets/environments/${name}/APP_KEY`)
            .then(
              () => true,
              () => false,
            );
          if (!present)
            await api().post(`/api/secrets/environments/${name}/APP_KEY`, { value: key, reason: 'demo' });
        }
        if (!(await exists(infraWork)))
          await repositoryFrom('infrastructure', infraWork, 'main', 'Integration and staging');
        await api().request('PUT', '/api/environment-source', {
          url: infraWork,
          branch: 'main',
          pollInterval: '1m',
        });
        const integration = await waitApplied('integration');
        // Staging's plan waits for one of its administrators: the demo's admin approves it.
        const plan = await waitUntil('staging plan', 120_000, async () => {
          const v = await environment('staging');
          return v?.waitingPlan ?? (v?.lastApply ? { id: '' } : undefined);
        });
        if (plan.id) await api().post('/api/environments/staging/apply', { planId: plan.id });
        const staging = await waitApplied('staging');
        return `${integration}; ${staging}`;
      },
    ],
    [
      'register laravel-app from its git repository; the post-receive hook reports pushes',
      async () => {
        if (!(await exists(appWork))) {
          await repositoryFrom('laravel-app', appWork, 'master', 'The reference app');
          await git(root, 'init', '--quiet', '--bare', '--initial-branch=master', appBare);
          await git(appWork, 'remote', 'add', 'origin', appBare);
        }
        const apps = await api().get<{ name: string }[]>('/api/apps');
        if (!apps.some((a) => a.name === APP))
          await api().post('/api/apps', { name: APP, repository: appBare, branch: 'master' });
        const { hookSecret } = await api().post<{ hookSecret: string }>(`/api/apps/${APP}/hook`);
        await installPostReceiveHook(
          appBare,
          { url: options.serverUrl(), app: APP, secret: hookSecret },
          { force: true },
        );
        return `${appWork} → ${appBare}`;
      },
    ],
    [
      'push to master: build, unit tests, package, publish, deploy to integration, regression tests, tell staging',
      async () => {
        await git(appWork, 'commit', '--quiet', '--allow-empty', '-m', 'A change to ship');
        const commit = await git(appWork, 'rev-parse', 'HEAD');
        await git(appWork, 'push', '--quiet', 'origin', 'HEAD:refs/heads/master');
        const runs = await waitUntil('the run to start', 30_000, async () => {
          const list = await api().get<{ number: number; commit: string }[]>(`/api/runs?app=${APP}`);
          return list.find((r) => r.commit === commit);
        });
        const shown = new Set<string>();
        const finished = await waitUntil(
          `run ${APP}/${runs.number}`,
          1_500_000,
          async () => {
            const r = await api().get<RunView>(`/api/apps/${APP}/runs/${runs.number}`);
            for (const s of r.steps) {
              if (['succeeded', 'failed', 'skipped'].includes(s.state) && !shown.has(s.name)) {
                shown.add(s.name);
                options.progress(`      ${s.name}: ${s.state}`);
              }
            }
            return ['succeeded', 'failed', 'cancelled'].includes(r.state) ? r : undefined;
          },
          1000,
        );
        check(
          finished.state === 'succeeded',
          `run ${APP}/${runs.number} ${finished.state}: ${finished.error ?? ''} (slipway runs logs ${APP}/${runs.number})`,
        );
        version = finished.version ?? undefined;
        const up = await fetch(`${await lbUrl('integration')}/up`);
        check(
          up.status === 200 && up.headers.get('x-app-version') === version,
          `integration answers ${up.status} with version ${up.headers.get('x-app-version')}, expected ${version}`,
        );
        return `run ${APP}/${runs.number}: ${version} live and tested on integration`;
      },
    ],
    [
      "staging's administrator got the email",
      async () => {
        const message = await waitUntil('the email to stella', 60_000, async () =>
          (await mail!.messages()).find(
            (m) => m.to.includes('stella@demo.invalid') && m.subject.includes(version!),
          ),
        );
        return `"${message.subject}" in ${message.file}`;
      },
    ],
    [
      'one action deploys it to staging (rolling, two web hosts)',
      async () => {
        const started = await api().post<{ number: number }>('/api/deployments', {
          environment: 'staging',
          app: APP,
          version,
        });
        const done = await waitUntil(`deployment #${started.number}`, 900_000, async () => {
          const d = await api().get<{ state: string; reason: string | null }>(
            `/api/deployments/${started.number}`,
          );
          return ['succeeded', 'failed', 'rolled_back'].includes(d.state) ? d : undefined;
        });
        check(
          done.state === 'succeeded',
          `deployment #${started.number} ${done.state}: ${done.reason ?? ''} (slipway deployments logs ${started.number})`,
        );
        const url = await lbUrl('staging');
        const up = await fetch(`${url}/up`);
        check(up.headers.get('x-app-version') === version, 'staging does not serve the new version');
        return `deployment #${started.number}: ${version} on ${url}`;
      },
    ],
  ];

  return {
    steps,
    summary: () => [
      `  App repository: ${appWork} (commit and \`git push origin HEAD:master\` to ship again)`,
      `  Infrastructure: ${infraWork}`,
      ...(mail ? [`  Mailbox: ${mail.dir}`] : []),
    ],
    async stop({ destroy }) {
      if (destroy) {
        for (const name of ['staging', 'integration']) {
          const view = await environment(name);
          if (!view || view.status === 'destroyed') continue;
          await api()
            .post(`/api/environments/${name}/destroy`, { confirm: name })
            .catch(() => undefined);
          await waitUntil(`destroying ${name}`, 180_000, async () =>
            (await environment(name))?.status === 'destroyed' ? true : undefined,
          ).catch(() => undefined);
        }
      }
      await mail?.stop();
    },
  };
}
