/**
 * The contract between the environments module (plan, apply, observe) and a provider (how an
 * environment becomes real). The local provider implements it on this machine; the cloud providers
 * (aws, gcp) will compile the same requests to Terraform and cloud-init that installs the agent.
 */
import type { Kysely } from 'kysely';

/** What a provider gets with every call. */
export interface ProviderContext {
  /** The database, for the provider's own tables. */
  readonly db: Kysely<any>;
  readonly environment: string;
  /** A progress line for the apply log. */
  readonly log: (line: string) => void;
}

/** A host to exist with an agent running on it. */
export interface HostRequest {
  /** The host's id in the control plane (its agent authenticates as this host). */
  readonly id: string;
  /** Unique in the environment: "web-1". */
  readonly name: string;
  readonly services: readonly string[];
  readonly zone: string | null;
  readonly size: { readonly name: string; readonly vcpus: number; readonly memoryMiB: number };
  /** Issues a fresh one-time join token, for a host whose agent has no credential yet. */
  readonly issueJoinToken: () => Promise<string>;
}

/** What a provider says about a host it made. */
export interface HostOutputs {
  /** Whether the host is isolated from this machine and from other hosts. */
  readonly isolated: boolean;
  /** In words: how it is isolated, or why it is not. */
  readonly isolation: string;
}

/** A PostgreSQL server with its databases and roles. */
export interface DatabaseRequest {
  readonly name: string;
  readonly version: number;
  readonly databases: readonly { readonly name: string; readonly owner: string }[];
  readonly roles: readonly { readonly name: string; readonly databases: readonly string[] }[];
}

/** Where a database server is, and the credentials the provider generated (kept secret). */
export interface DatabaseOutputs {
  readonly outputs: { readonly host: string; readonly port: number };
  /** Role passwords and the superuser's; never shown, never logged. */
  readonly sensitive: {
    readonly superuserPassword: string;
    readonly passwords: Readonly<Record<string, string>>;
  };
}

/** A load balancer in front of a service's instances. */
export interface LoadBalancerRequest {
  readonly name: string;
  readonly service: string;
  /** The ports the definition names. */
  readonly ports: readonly number[];
  readonly healthCheck: {
    readonly path: string;
    readonly intervalMs: number;
    readonly timeoutMs: number;
    readonly rise: number;
    readonly fall: number;
  };
  readonly servers: readonly { readonly name: string; readonly address: string; readonly port: number }[];
}

/** Where a load balancer answers. */
export interface LoadBalancerOutputs {
  readonly endpoints: readonly { readonly port: number; readonly url: string }[];
}

/** What the provider sees of a host now. */
export interface HostObservation {
  /** Whether the host's agent process runs. */
  readonly agentRunning: boolean;
  /** The agent's PID on this machine (local provider). */
  readonly agentPid: number | null;
  /** PIDs of the host's processes on this machine, keyed by the PID the agent reports (local provider). */
  readonly pids: Readonly<Record<string, number>>;
}

/** What the provider sees of an environment now. */
export interface EnvironmentObservation {
  readonly hosts: Readonly<Record<string, HostObservation>>;
  readonly loadBalancer: {
    readonly running: boolean;
    readonly pid: number | null;
    readonly servers: readonly { readonly name: string; readonly status: string; readonly weight: number }[];
  } | null;
  readonly database: { readonly running: boolean; readonly pid: number | null } | null;
}

/** Something the provider did on its own to keep an environment up. */
export interface SupervisionEvent {
  readonly host?: string;
  readonly kind: 'agent-restarted' | 'load-balancer-restarted' | 'database-restarted';
  readonly message: string;
}

/** How an environment becomes real. */
/** Live control of an environment's load balancer, for rollouts (weights, draining, servers). */
export interface LoadBalancerControl {
  serverStats(backend?: string): Promise<
    readonly {
      readonly server: string;
      readonly status: string;
      readonly weight: number;
      readonly currentSessions: number;
      readonly totalSessions: number;
      readonly responses5xx: number;
      readonly averageResponseMs: number;
      readonly address: string;
    }[]
  >;
  setWeight(backend: string, server: string, weight: number): Promise<void>;
  setState(backend: string, server: string, state: 'ready' | 'drain' | 'maint'): Promise<void>;
  addServer(
    backend: string,
    server: string,
    options: {
      address: string;
      port: number;
      weight?: number;
      check?: { intervalMs: number; rise: number; fall: number };
      enable?: boolean;
    },
  ): Promise<void>;
  deleteServer(backend: string, server: string): Promise<void>;
  waitForStatus(backend: string, server: string, status: string, timeoutMs?: number): Promise<unknown>;
}

export interface EnvironmentProvider {
  /** "local", "aws", "gcp". */
  readonly kind: string;
  /** Why this provider cannot apply, when it cannot (a cloud provider before its compiler exists). */
  readonly cannotApply?: string;
  ensureDatabase(
    context: ProviderContext,
    request: DatabaseRequest,
    previous?: DatabaseOutputs['sensitive'],
  ): Promise<DatabaseOutputs>;
  deleteDatabase(context: ProviderContext, name: string): Promise<void>;
  ensureHost(context: ProviderContext, request: HostRequest): Promise<HostOutputs>;
  deleteHost(context: ProviderContext, name: string): Promise<void>;
  /** Where an instance of `service` on `host` listens for the definition's `port`. */
  instanceAddress(
    context: ProviderContext,
    host: string,
    service: string,
    port: number,
  ): Promise<{ address: string; port: number }>;
  ensureLoadBalancer(context: ProviderContext, request: LoadBalancerRequest): Promise<LoadBalancerOutputs>;
  deleteLoadBalancer(context: ProviderContext, name: string): Promise<void>;
  observe(context: ProviderContext, hosts: readonly string[]): Promise<EnvironmentObservation>;
  /** Restarts what died (agents, the load balancer, the database) for the resources that exist. */
  supervise(
    context: ProviderContext,
    expected: {
      readonly hosts: readonly HostRequest[];
      readonly loadBalancer: boolean;
      readonly database: boolean;
    },
  ): Promise<SupervisionEvent[]>;
  /** Removes whatever is left of the environment (processes, ports, directories). */
  destroyEnvironment(context: ProviderContext): Promise<void>;
  /** Live control of the environment's load balancer (absent where the provider has none yet). */
  loadBalancerControl?(environment: string): LoadBalancerControl;
}
