/**
 * Shared pieces of the deployment tests: the reference app built into real .deb versions (once per
 * test file), uploaded to the server's artifact repository with their layout, an infrastructure
 * repository whose environment runs the app, and a load generator that records every answer.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildDeb, openArtifactRepository } from '../src/artifacts/index.ts';
import { parseSlipwayFile } from '../src/pipelines/index.ts';
import type { TestServer } from '../src/server/testing.ts';

const run = promisify(execFile);
const APP_SOURCE = new URL('../examples/laravel-app', import.meta.url).pathname;

/** A copy of the reference app, built (npm ci and the AngularJS UI) so versions can be packaged. */
export interface BuiltApp {
  readonly dir: string;
  readonly slipwayYaml: string;
  /** Packages the app as `version`; `change` edits the copy first (a broken route, a failing postinst). */
  package(version: string, change?: (dir: string) => Promise<void>): Promise<string>;
}

/** Copies and builds the reference app in `dir` (about half a minute: npm ci needs the registry). */
export async function buildReferenceApp(dir: string): Promise<BuiltApp> {
  const app = join(dir, 'app');
  await cp(APP_SOURCE, app, {
    recursive: true,
    filter: (source) => !/\/(node_modules|\.data|vendor)(\/|$)/.test(source.slice(APP_SOURCE.length)),
  });
  await run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app, timeout: 300_000 });
  await run('npm', ['run', 'build'], { cwd: app, timeout: 120_000 });
  const slipwayYaml = await readFile(join(app, 'slipway.yaml'), 'utf8');
  const definition = parseSlipwayFile(slipwayYaml).package;
  const out = join(dir, 'debs');
  await mkdir(out, { recursive: true });
  return {
    dir: app,
    slipwayYaml,
    async package(version, change) {
      const workspace = join(dir, `ws-${version.replace(/[^A-Za-z0-9.-]/g, '_')}`);
      await rm(workspace, { recursive: true, force: true });
      await cp(app, workspace, { recursive: true });
      await writeFile(join(workspace, 'VERSION'), `${version}\n`);
      await change?.(workspace);
      const built = await buildDeb(definition, { workspace, version, outDir: out });
      await rm(workspace, { recursive: true, force: true });
      return built.path;
    },
  };
}

/** Uploads a .deb to the server's repository and records how that version runs. */
export async function publish(t: TestServer, app: BuiltApp, path: string, version: string): Promise<void> {
  const repository = openArtifactRepository({
    db: t.server.store.db,
    dataDir: t.dataDir,
    secretVault: t.server.secretVault,
  });
  await repository.storeFile(path, { app: 'laravel-app', actor: 'test' });
  const layout = await t.inject('POST', '/api/release-layouts', {
    token: t.adminToken,
    body: { app: 'laravel-app', version, slipwayYaml: app.slipwayYaml },
  });
  if (layout.statusCode !== 201) throw new Error(`recording the layout failed: ${layout.body}`);
}

/** The text of an environment running the reference app: web behind a load balancer, a worker, a database. */
export function laravelEnvironment(
  name: string,
  options: { web?: number; strategy?: string; promotion?: string } = {},
): string {
  return `import {
  Approval, Database, DeployStrategy, Duration, Environment, Infrastructure, LoadBalancer, Promotion, Provider, Scaling,
  SecretRef, Service,
} from 'slipway/environments';

const infra = new Infrastructure();
const environment = new Environment(infra, '${name}', {
  provider: Provider.local(),
  approval: Approval.automatic(),
  tier: 'minimal',
  secrets: ['APP_KEY'],
  config: {
    APP_NAME: 'Reference app (${name})', APP_ENV: 'production', APP_DEBUG: 'false', LOG_CHANNEL: 'stderr',
    QUEUE_CONNECTION: 'database', CACHE_DRIVER: 'database', MAIL_MAILER: 'log', WEB_CONCURRENCY: '4',
  },
  deploy: ${options.strategy ?? 'DeployStrategy.rolling({ batchSize: 1, maxSurge: 1 })'},
  ${options.promotion ? `promotion: Promotion.after('${options.promotion}'),` : ''}
});
const secrets = { APP_KEY: SecretRef.named('APP_KEY') };
const web = new Service(environment, 'web', {
  app: 'laravel-app',
  processType: 'web',
  port: 8080,
  scaling: Scaling.fixed(${options.web ?? 1}),
  healthCheck: { path: '/up', interval: Duration.seconds(1), timeout: Duration.millis(800), rise: 2, fall: 2 },
  secrets,
  stopTimeout: Duration.seconds(20),
});
new Service(environment, 'worker', { app: 'laravel-app', processType: 'worker', secrets, stopTimeout: Duration.seconds(20) });
new LoadBalancer(environment, 'public', { service: web, ports: [80] });
new Database(environment, 'main', { databases: ['laravel'], roles: [{ name: 'laravel', databases: ['laravel'] }] });
`;
}

/** A Laravel APP_KEY. */
export function laravelKey(): string {
  return `base64:${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')}`;
}

/** One answer a load generator saw. */
export interface Answer {
  readonly at: number;
  readonly status: number | 'error';
  readonly version: string | null;
}

/** Sends `rate` requests per second to `url` until stopped; records every answer. */
export function startLoad(url: string, rate: number): { stop(): Promise<Answer[]> } {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const answers: Answer[] = [];
  const inFlight = new Set<Promise<void>>();
  const target = new URL(url);
  const send = () => {
    const done = new Promise<void>((resolve) => {
      const req = request(
        { host: target.hostname, port: target.port, path: target.pathname, agent, timeout: 10_000 },
        (res) => {
          res.resume();
          res.on('end', () => {
            const version = res.headers['x-app-version'];
            answers.push({
              at: Date.now(),
              status: res.statusCode ?? 0,
              version: typeof version === 'string' ? version : null,
            });
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        answers.push({ at: Date.now(), status: 'error', version: null });
        resolve();
      });
      req.end();
    });
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  };
  const timer = setInterval(() => {
    for (let i = 0; i < rate / 20; i++) send();
  }, 50);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all([...inFlight]);
      agent.destroy();
      return answers;
    },
  };
}

/** Destroys an environment of the test server and waits until it is gone (every process, port, directory). */
export async function destroyEnvironment(t: TestServer, name: string, timeoutMs = 120_000): Promise<void> {
  const started = await t.inject('POST', `/api/environments/${name}/destroy`, {
    token: t.adminToken,
    body: { confirm: name },
  });
  if (started.statusCode !== 202) throw new Error(`destroying ${name} failed: ${started.body}`);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const view = (await t.inject('GET', `/api/environments/${name}`, { token: t.adminToken })).json();
    if (view.status === 'destroyed') return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`${name} was not destroyed within ${timeoutMs} ms`);
}
