import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { ArtifactRepository } from '../artifacts/index.ts';
import { type Clock, environmentScope, type Logger } from '../core/index.ts';
import type { EnvironmentServices, ReleaseLayout } from '../environments/index.ts';
import { type SingletonLoop, startSingletonLoop } from '../jobs/index.ts';
import type { Notifier } from '../notifications/index.ts';
import { getLayout, getRelease } from './releases.ts';
import { addEvent, runDeployment } from './runner.ts';
import { ACTIVE_STATES, type DeploymentState, type DeploymentsTables } from './schema.ts';
import type { RolloutTarget } from './target.ts';

type Db = Kysely<DeploymentsTables>;

/** What the deployments service needs. */
export interface DeploymentsServiceOptions {
  readonly db: Kysely<any>;
  readonly pool: pg.Pool;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** The environments module's running services (hosts, providers), once the server listens. */
  readonly environments: () => Promise<EnvironmentServices>;
  readonly artifacts: ArtifactRepository;
  readonly notifier?: Notifier;
  /** The console's URL, for links in notifications. */
  readonly publicUrl?: string;
  /** How often the leader looks for deployments to run. @default 500 ms */
  readonly intervalMs?: number;
}

/**
 * Runs deployments: on the replica that holds the "deployments" leader lock, every active deployment
 * (new, or left half-way by a control plane that stopped) is run to its end, one per environment.
 */
export class DeploymentsService {
  readonly #o: DeploymentsServiceOptions;
  readonly #running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  #loop: SingletonLoop | undefined;

  constructor(options: DeploymentsServiceOptions) {
    this.#o = options;
  }

  get #db(): Db {
    return this.#o.db as Db;
  }

  /** Starts looking for work (as leader). */
  start(): void {
    this.#loop = startSingletonLoop(this.#o.pool, {
      name: 'deployments',
      intervalMs: this.#o.intervalMs ?? 500,
      ...(this.#o.logger ? { logger: this.#o.logger } : {}),
      run: () => this.#tick(),
    });
  }

  async #tick(): Promise<void> {
    const active = await this.#db
      .selectFrom('deployments')
      .select(['id', 'environment', 'app'])
      .where('state', 'in', [...ACTIVE_STATES])
      .orderBy('number')
      .execute();
    for (const row of active) {
      if (this.#running.has(row.id)) continue;
      const abort = new AbortController();
      const done = this.#run(row.id, row.environment, row.app, abort.signal).finally(() =>
        this.#running.delete(row.id),
      );
      this.#running.set(row.id, { abort, done });
    }
  }

  async #run(id: string, environment: string, app: string, signal: AbortSignal): Promise<void> {
    try {
      const services = await this.#o.environments();
      const key = await this.#o.artifacts.key.publicKey();
      const target: RolloutTarget = await services.rollout({
        environment,
        app,
        release: (releaseId) => this.#layout(releaseId, `${services.url}/apt`, key.armored),
        log: (line) => void addEvent(this.#db, id, 'info', line),
      });
      const state = await runDeployment(
        { db: this.#db, clock: this.#o.clock, target, ...(this.#o.logger ? { logger: this.#o.logger } : {}) },
        id,
        signal,
      );
      if (!ACTIVE_STATES.includes(state)) await this.#finished(id, state);
    } catch (error) {
      if (signal.aborted) return;
      this.#o.logger?.error({ err: error, deployment: id }, 'deployment runner failed; it is retried');
      await addEvent(
        this.#db,
        id,
        'error',
        `the runner stopped: ${(error as Error).message}; retrying`,
      ).catch(() => undefined);
      await this.#o.clock.sleep(2000);
    }
  }

  /** What a release brings to the hosts: the layout the environments module applies. */
  async #layout(releaseId: string | null, aptUrl: string, signedBy: string): Promise<ReleaseLayout | null> {
    if (!releaseId) return null;
    const release = await getRelease(this.#db, releaseId);
    const layout = await getLayout(this.#db, release.app, release.version);
    return {
      id: release.id,
      app: release.app,
      version: release.version,
      spec: {
        id: release.id,
        app: release.app,
        version: release.version,
        artifact: {
          name: release.artifact.name,
          version: release.artifact.version,
          sha256: release.artifact.sha256,
          channel: { url: aptUrl, distribution: release.artifact.channel, component: 'main', signedBy },
        },
        configVersion: String(release.number),
        secrets: release.secretSetVersion
          ? { reference: release.environment, version: release.secretSetVersion }
          : null,
        install: { directory: layout.directory, user: layout.user },
        envFile: null,
        steps: layout.hostSteps.map((s) => ({ name: s.name, command: s.command, timeoutMs: s.timeoutMs })),
      },
      processTypes: layout.processTypes,
      hooks: layout.hooks,
      env: { APP_VERSION: release.version, SLIPWAY_RELEASE: release.id },
    };
  }

  /** Tells the environment's administrators how a deployment ended, and records it with the artifact. */
  async #finished(id: string, state: DeploymentState): Promise<void> {
    const row = await this.#db
      .selectFrom('deployments')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    const release = await getRelease(this.#db, row.release_id);
    if (state === 'succeeded') {
      await this.#o.artifacts
        .markDeployed({ app: row.app, version: release.version, environment: row.environment })
        .catch((error) =>
          this.#o.logger?.warn({ err: error }, 'cannot record the deployment with the artifact'),
        );
    }
    if (!this.#o.notifier || row.trigger === 'pipeline') return; // the pipeline reports its own deploys
    const succeeded = state === 'succeeded';
    await this.#o.notifier
      .notify({
        event: succeeded ? 'deployment.succeeded' : 'deployment.failed',
        title: `${row.app} ${release.version} ${succeeded ? 'is live on' : 'was rolled back on'} ${row.environment}`,
        text: succeeded
          ? `Deployment #${row.number} by ${row.requested_by} finished (${row.strategy.strategy}).`
          : `Deployment #${row.number} by ${row.requested_by} failed and was rolled back: ${row.reason ?? 'no reason recorded'}`,
        ...(this.#o.publicUrl ? { link: `${this.#o.publicUrl}/deployments?number=${row.number}` } : {}),
        app: row.app,
        environment: row.environment,
        audience: { role: 'admin', scope: environmentScope(row.environment) },
        data: { deployment: Number(row.number), version: release.version, state },
      })
      .catch((error) => this.#o.logger?.warn({ err: error }, 'cannot notify about a deployment'));
  }

  /** Waits until a deployment has ended (or `timeoutMs` passed) and returns its state. */
  async waitFor(id: string, timeoutMs = 30 * 60_000, signal?: AbortSignal): Promise<DeploymentState> {
    const deadline = this.#o.clock.now().getTime() + timeoutMs;
    while (true) {
      const row = await this.#db
        .selectFrom('deployments')
        .select('state')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      if (!ACTIVE_STATES.includes(row.state) || this.#o.clock.now().getTime() > deadline || signal?.aborted)
        return row.state;
      await this.#o.clock.sleep(250);
    }
  }

  /** Stops running deployments where they are (they resume on the next start) and the loop. */
  async stop(): Promise<void> {
    for (const { abort } of this.#running.values()) abort.abort(new Error('the control plane is stopping'));
    await Promise.all([...this.#running.values()].map((r) => r.done));
    await this.#loop?.stop();
  }
}
