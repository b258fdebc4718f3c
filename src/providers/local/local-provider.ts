/**
 * The local provider (the embedded default): each host is a bubblewrap sandbox on this machine with
 * its own agent; each environment gets one HAProxy in front of its web service and one PostgreSQL 15
 * cluster, on ports allocated from SLIPWAY_LOCAL_PORTS and kept in the database, so integration,
 * staging and production run side by side. Everything lives under one root directory per
 * environment, and `destroyEnvironment` removes it with every process and port.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomToken, UnavailableError } from '../../core/index.ts';
import { findUnreachableAncestor, openDatabase, PostgresCluster } from '../../store/index.ts';
import type {
  DatabaseOutputs,
  DatabaseRequest,
  EnvironmentObservation,
  EnvironmentProvider,
  HostOutputs,
  HostRequest,
  LoadBalancerOutputs,
  LoadBalancerRequest,
  ProviderContext,
  SupervisionEvent,
} from '../provider.ts';
import { LocalLoadBalancer } from './haproxy-load-balancer.ts';
import type { HaproxyRuntime } from './haproxy-runtime.ts';
import { describeIsolation, detectSandboxSupport, LocalHost, type SandboxSupport } from './host-sandbox.ts';
import { PortAllocator } from './port-allocator.ts';
import { isProcessAlive, namespacePidMap, processSnapshot, waitFor } from './process-tools.ts';

/** How the local provider is set up. */
export interface LocalProviderOptions {
  /** Where environments live on this machine. */
  readonly root: string;
  /** The control plane's URL as agents on this machine reach it. */
  readonly controlPlaneUrl: string;
  readonly ports?: PortAllocator;
  /** How long a stopping agent may take (its processes' stop timeouts) before the sandbox is killed. @default 40 s */
  readonly agentStopTimeoutMs?: number;
  /**
   * How long a host's agent stays down before the provider starts it again; it doubles (up to 30 s)
   * while the agent keeps dying within a minute of its last start. @default 2000
   */
  readonly agentRestartDelayMs?: number;
}

interface AgentOutage {
  /** When the agent was first seen not running. */
  readonly since: number;
  /** How long to wait from `since` before starting a new one. */
  readonly delayMs: number;
}

const NAME = /^[a-z][a-z0-9-]{0,30}$/;

function quoteIdentifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a safe SQL name: ${name}`);
  return `"${name}"`;
}

/** The local provider. */
export class LocalProvider implements EnvironmentProvider {
  readonly kind = 'local';
  readonly #options: LocalProviderOptions;
  readonly #ports: PortAllocator;
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #outages = new Map<string, AgentOutage>();
  readonly #lastRestart = new Map<string, { at: number; delayMs: number }>();
  /** Tells this root's agents apart from those of another control plane on the same machine. */
  readonly #rootTag: string;
  #support: SandboxSupport | undefined;

  constructor(options: LocalProviderOptions) {
    this.#options = { ...options, root: resolve(options.root) };
    this.#ports = options.ports ?? new PortAllocator();
    this.#rootTag = createHash('sha256').update(this.#options.root).digest('hex').slice(0, 10);
  }

  /** The root directory of an environment. */
  environmentDirectory(environment: string): string {
    if (!NAME.test(environment)) throw new Error(`not an environment name: ${environment}`);
    return join(this.#options.root, 'envs', environment);
  }

  /**
   * The runtime API of an environment's HAProxy (backend = the load-balanced service's name, servers
   * = host names): what deployments use to drain, enable, disable and re-weight servers without a reload.
   */
  loadBalancerRuntime(environment: string): HaproxyRuntime {
    return new LocalLoadBalancer(join(this.environmentDirectory(environment), 'haproxy')).runtime;
  }

  /** The environment's HAProxy through its runtime API. */
  loadBalancerControl(environment: string): HaproxyRuntime {
    return this.loadBalancerRuntime(environment);
  }

  /** How hosts are sandboxed here. */
  async support(): Promise<SandboxSupport> {
    this.#support ??= await detectSandboxSupport(join(this.#options.root, 'scratch'));
    return this.#support;
  }

  /** Runs `work` alone for `key` (one change at a time per host, load balancer or database). */
  async #exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.#locks.set(key, next);
    try {
      return await next;
    } finally {
      if (this.#locks.get(key) === next) this.#locks.delete(key);
    }
  }

  async #prepareRoot(environment: string): Promise<string> {
    const dir = this.environmentDirectory(environment);
    // The postgres OS user must pass through every directory to its cluster's.
    for (const path of [this.#options.root, join(this.#options.root, 'envs'), dir]) {
      await mkdir(path, { recursive: true, mode: 0o711 });
      await chmod(path, 0o711);
    }
    return dir;
  }

  async #host(environment: string, name: string): Promise<LocalHost> {
    if (!NAME.test(name)) throw new Error(`not a host name: ${name}`);
    return new LocalHost({
      directory: join(this.environmentDirectory(environment), 'hosts', name),
      label: `${this.#rootTag}:${environment}/${name}`,
      hostname: `${name}.${environment}`,
      support: await this.support(),
    });
  }

  async ensureHost(context: ProviderContext, request: HostRequest): Promise<HostOutputs> {
    await this.#prepareRoot(context.environment);
    const host = await this.#host(context.environment, request.name);
    return this.#exclusive(`host:${host.label}`, async () => {
      await host.prepare();
      const agents = await host.agents();
      const [keep, ...duplicates] = agents;
      for (const duplicate of duplicates) {
        context.log(`host ${request.name}: stopping a duplicate agent (pid ${duplicate.pid})`);
        await host.killSandbox(duplicate);
        try {
          process.kill(duplicate.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      if (!keep) {
        if (!host.hasCredential()) await host.writeJoinToken(await request.issueJoinToken());
        const agent = await host.startAgent(this.#options.controlPlaneUrl);
        context.log(`host ${request.name}: agent started (pid ${agent.pid})`);
      }
      return describeIsolation(await this.support());
    });
  }

  async deleteHost(context: ProviderContext, name: string): Promise<void> {
    const host = await this.#host(context.environment, name);
    await this.#exclusive(`host:${host.label}`, async () => {
      await host.stopAgent(this.#options.agentStopTimeoutMs ?? 40_000);
      await host.remove();
      await this.#ports.release(context.db, context.environment, `host:${name}:`);
      context.log(`host ${name}: agent stopped, directory removed`);
    });
  }

  async instanceAddress(
    context: ProviderContext,
    host: string,
    service: string,
  ): Promise<{ address: string; port: number }> {
    const port = await this.#ports.allocate(context.db, context.environment, `host:${host}:${service}`);
    return { address: '127.0.0.1', port };
  }

  async ensureLoadBalancer(
    context: ProviderContext,
    request: LoadBalancerRequest,
  ): Promise<LoadBalancerOutputs> {
    const dir = await this.#prepareRoot(context.environment);
    const lb = new LocalLoadBalancer(join(dir, 'haproxy'));
    return this.#exclusive(`lb:${context.environment}`, async () => {
      const listeners: { port: number; url: string }[] = [];
      for (const port of request.ports) {
        const local = await this.#ports.allocate(context.db, context.environment, `lb:${port}`);
        listeners.push({ port, url: `http://127.0.0.1:${local}` });
      }
      const change = await lb.ensure({
        name: request.name,
        backend: request.service,
        ports: listeners.map((l) => Number(new URL(l.url).port)),
        healthCheck: request.healthCheck,
        servers: request.servers,
      });
      if (change !== 'unchanged') context.log(`load balancer: ${change}`);
      return { endpoints: listeners };
    });
  }

  async deleteLoadBalancer(context: ProviderContext): Promise<void> {
    const lb = new LocalLoadBalancer(join(this.environmentDirectory(context.environment), 'haproxy'));
    await this.#exclusive(`lb:${context.environment}`, async () => {
      await lb.stop();
      await rm(lb.directory, { recursive: true, force: true });
      await this.#ports.release(context.db, context.environment, 'lb:');
      context.log('load balancer: stopped and removed');
    });
  }

  #cluster(environment: string, port: number, password: string): PostgresCluster {
    const dir = join(this.environmentDirectory(environment), 'postgres');
    return new PostgresCluster({
      dataDir: join(dir, 'data'),
      socketDir: join(dir, 'run'),
      logFile: join(dir, 'postgres.log'),
      port,
      password,
      settings: { max_connections: 50, shared_buffers: "'32MB'" },
    });
  }

  async ensureDatabase(
    context: ProviderContext,
    request: DatabaseRequest,
    previous?: DatabaseOutputs['sensitive'],
  ): Promise<DatabaseOutputs> {
    const dir = await this.#prepareRoot(context.environment);
    const blocked = await findUnreachableAncestor(dir);
    if (blocked) {
      throw new UnavailableError(
        `Cannot create the database of "${context.environment}": the postgres user cannot enter "${blocked}"`,
        {
          hint: 'Set SLIPWAY_LOCAL_ROOT to a directory every user can pass through (like /var/lib/slipway/local)',
          retryable: false,
        },
      );
    }
    return this.#exclusive(`db:${context.environment}`, async () => {
      const port = await this.#ports.allocate(context.db, context.environment, 'database');
      const superuserPassword = previous?.superuserPassword ?? randomToken(24);
      const cluster = this.#cluster(context.environment, port, superuserPassword);
      const fresh = !(await cluster.isInitialized());
      await cluster.start();
      if (fresh) context.log(`database: PostgreSQL ${request.version} created on 127.0.0.1:${port}`);
      const passwords: Record<string, string> = {};
      for (const role of request.roles)
        passwords[role.name] = previous?.passwords[role.name] ?? randomToken(24);
      await this.#converge(cluster, request, passwords);
      return { outputs: { host: '127.0.0.1', port }, sensitive: { superuserPassword, passwords } };
    });
  }

  /** Creates the roles and databases the request names and drops those it no longer names. */
  async #converge(
    cluster: PostgresCluster,
    request: DatabaseRequest,
    passwords: Record<string, string>,
  ): Promise<void> {
    const admin = openDatabase(cluster.endpoint, {
      maxConnections: 1,
      applicationName: 'slipway-local-provider',
    });
    try {
      const q = (text: string) => admin.pool.query(text);
      const roles = new Set(
        (await q(`SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> 'postgres'`)).rows.map(
          (r) => r.rolname as string,
        ),
      );
      const databases = new Set(
        (
          await q(
            `SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')`,
          )
        ).rows.map((r) => r.datname as string),
      );
      for (const role of request.roles) {
        // Passwords are generated URL-safe tokens, so quoting them is safe.
        const verb = roles.has(role.name) ? 'ALTER' : 'CREATE';
        await q(`${verb} ROLE ${quoteIdentifier(role.name)} LOGIN PASSWORD '${passwords[role.name]}'`);
      }
      for (const database of request.databases) {
        if (!databases.has(database.name)) {
          await q(
            `CREATE DATABASE ${quoteIdentifier(database.name)} OWNER ${quoteIdentifier(database.owner)}`,
          );
        } else {
          await q(
            `ALTER DATABASE ${quoteIdentifier(database.name)} OWNER TO ${quoteIdentifier(database.owner)}`,
          );
        }
      }
      for (const role of request.roles) {
        for (const name of role.databases) {
          await q(
            `GRANT CONNECT, CREATE, TEMPORARY ON DATABASE ${quoteIdentifier(name)} TO ${quoteIdentifier(role.name)}`,
          );
          const inDatabase = openDatabase({ ...cluster.endpoint, database: name }, { maxConnections: 1 });
          try {
            await inDatabase.pool.query(
              `GRANT USAGE, CREATE ON SCHEMA public TO ${quoteIdentifier(role.name)}`,
            );
          } finally {
            await inDatabase.close();
          }
        }
      }
      const wantedDatabases = new Set(request.databases.map((d) => d.name));
      for (const name of databases) {
        if (!wantedDatabases.has(name)) await q(`DROP DATABASE ${quoteIdentifier(name)} WITH (FORCE)`);
      }
      const wantedRoles = new Set(request.roles.map((r) => r.name));
      for (const name of roles) {
        if (!wantedRoles.has(name)) await q(`DROP ROLE ${quoteIdentifier(name)}`);
      }
    } finally {
      await admin.close();
    }
  }

  async deleteDatabase(context: ProviderContext): Promise<void> {
    const dir = join(this.environmentDirectory(context.environment), 'postgres');
    await this.#exclusive(`db:${context.environment}`, async () => {
      const cluster = this.#cluster(context.environment, 5432, 'unused');
      await cluster.stop('immediate').catch(() => undefined);
      const pid = await cluster.postmasterPid();
      if (pid && isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
      await rm(dir, { recursive: true, force: true });
      await this.#ports.release(context.db, context.environment, 'database');
      context.log('database: stopped and removed');
    });
  }

  async observe(context: ProviderContext, hosts: readonly string[]): Promise<EnvironmentObservation> {
    const dir = this.environmentDirectory(context.environment);
    const observed: Record<string, EnvironmentObservation['hosts'][string]> = {};
    const snapshot = await processSnapshot();
    for (const name of hosts) {
      const host = await this.#host(context.environment, name);
      const [agent] = await host.agents(snapshot);
      const init = agent ? await host.sandboxInit(agent, snapshot) : undefined;
      const pids = init
        ? Object.fromEntries(
            [...namespacePidMap(init, snapshot)].map(([inside, outside]) => [String(inside), outside]),
          )
        : {};
      observed[name] = { agentRunning: agent !== undefined, agentPid: agent?.pid ?? null, pids };
    }
    const lbDirectory = join(dir, 'haproxy');
    let loadBalancer: EnvironmentObservation['loadBalancer'] = null;
    if (existsSync(join(lbDirectory, 'haproxy.cfg'))) {
      const lb = new LocalLoadBalancer(lbDirectory);
      const pid = await lb.pid();
      const servers = pid
        ? (await lb.runtime.serverStats().catch(() => [])).map((s) => ({
            name: s.server,
            status: s.status,
            weight: s.weight,
          }))
        : [];
      loadBalancer = { running: pid !== undefined, pid: pid ?? null, servers };
    }
    let database: EnvironmentObservation['database'] = null;
    if (existsSync(join(dir, 'postgres', 'data', 'PG_VERSION'))) {
      const cluster = this.#cluster(context.environment, 5432, 'unused');
      const pid = await cluster.postmasterPid();
      const running = pid !== undefined && isProcessAlive(pid);
      database = { running, pid: running ? pid! : null };
    }
    return { hosts: observed, loadBalancer, database };
  }

  async supervise(
    context: ProviderContext,
    expected: {
      readonly hosts: readonly HostRequest[];
      readonly loadBalancer: boolean;
      readonly database: boolean;
    },
  ): Promise<SupervisionEvent[]> {
    const events: SupervisionEvent[] = [];
    const snapshot = await processSnapshot();
    for (const request of expected.hosts) {
      const host = await this.#host(context.environment, request.name);
      if (!existsSync(host.directory) || (await host.agents(snapshot)).length > 0) {
        this.#outages.delete(host.label);
        continue;
      }
      // Restart with backoff: the host shows as unhealthy meanwhile, and an agent that keeps dying
      // is not restarted in a tight loop.
      const now = Date.now();
      const last = this.#lastRestart.get(host.label);
      const initial = this.#options.agentRestartDelayMs ?? 2000;
      const outage =
        this.#outages.get(host.label) ??
        ({
          since: now,
          delayMs: last && now - last.at < 60_000 ? Math.min(last.delayMs * 2, 30_000) : initial,
        } satisfies AgentOutage);
      this.#outages.set(host.label, outage);
      if (now - outage.since < outage.delayMs) continue;
      const restarted = await this.#exclusive(`host:${host.label}`, async () => {
        if ((await host.agents()).length > 0) return false;
        // The agent died: whatever is left of its sandbox goes, then a new agent starts (it keeps its credential).
        await host.killLeftovers();
        if (!host.hasCredential()) await host.writeJoinToken(await request.issueJoinToken());
        await host.startAgent(this.#options.controlPlaneUrl);
        return true;
      }).catch((error: Error) => {
        context.log(`host ${request.name}: cannot restart the agent: ${error.message}`);
        return false;
      });
      if (restarted) {
        this.#outages.delete(host.label);
        this.#lastRestart.set(host.label, { at: Date.now(), delayMs: outage.delayMs });
        events.push({
          host: request.name,
          kind: 'agent-restarted',
          message: `the agent was not running for ${Math.round((Date.now() - outage.since) / 100) / 10} s: started a new one`,
        });
      }
    }
    const dir = this.environmentDirectory(context.environment);
    if (expected.loadBalancer && existsSync(join(dir, 'haproxy', 'haproxy.cfg'))) {
      const lb = new LocalLoadBalancer(join(dir, 'haproxy'));
      const restarted = await this.#exclusive(`lb:${context.environment}`, async () => {
        if (await lb.pid()) return false;
        await lb.reload();
        return true;
      }).catch(() => false);
      if (restarted)
        events.push({
          kind: 'load-balancer-restarted',
          message: 'HAProxy was not running: started it again',
        });
    }
    if (expected.database && existsSync(join(dir, 'postgres', 'data', 'PG_VERSION'))) {
      const ports = await this.#ports.ports(context.db, context.environment);
      const port = ports.get('database');
      if (port) {
        const restarted = await this.#exclusive(`db:${context.environment}`, async () => {
          const cluster = this.#cluster(context.environment, port, 'unused');
          if (await cluster.isRunning()) return false;
          await cluster.start();
          return true;
        }).catch(() => false);
        if (restarted)
          events.push({
            kind: 'database-restarted',
            message: 'PostgreSQL was not running: started it again',
          });
      }
    }
    return events;
  }

  async destroyEnvironment(context: ProviderContext): Promise<void> {
    const dir = this.environmentDirectory(context.environment);
    const hostsDir = join(dir, 'hosts');
    const hosts = await readdir(hostsDir).catch(() => [] as string[]);
    await Promise.all(hosts.filter((h) => NAME.test(h)).map((name) => this.deleteHost(context, name)));
    await this.deleteLoadBalancer(context);
    await this.deleteDatabase(context);
    await this.#ports.release(context.db, context.environment);
    await rm(dir, { recursive: true, force: true });
    await waitFor(() => !existsSync(dir), 5000, `${dir} to be removed`).catch(() => undefined);
  }
}
