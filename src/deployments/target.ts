/**
 * What a rollout acts on: the hosts of one environment and its load balancer. The environments
 * module and its provider implement it; every operation is idempotent, because a resumed deployment
 * repeats the action it was in when the control plane stopped.
 */

/** A release a host should run, or null for none (the first deployment's rollback). */
export type ReleaseRef = string | null;

/** Request and error counters of one load-balancer server, since the balancer started. */
export interface ServerCounters {
  readonly requests: number;
  readonly errors5xx: number;
  /** Average response time over the server's recent requests, in milliseconds. */
  readonly averageResponseMs: number;
}

/** The hosts a rollout starts from, as the environment runs them now. */
export interface TargetInstance {
  readonly host: string;
  /** Whether the load balancer sends it traffic (a web host). */
  readonly serving: boolean;
}

/** The environment a deployment changes. */
export interface RolloutTarget {
  /** The hosts that run the app now. */
  instances(): Promise<TargetInstance[]>;
  /** Creates a host shaped like `like` that runs `release` (nothing when it exists). */
  createHost(host: string, like: string, release: ReleaseRef, signal: AbortSignal): Promise<void>;
  /** Points a host at a release and waits until it is installed and its processes are healthy. */
  install(host: string, release: ReleaseRef, signal: AbortSignal): Promise<void>;
  /** Waits until the host runs its release and its processes pass their health checks. */
  waitHealthy(host: string, signal: AbortSignal): Promise<void>;
  /** Runs a release hook once on a host and waits for it; throws with its output's tail when it fails. */
  runHook(
    host: string,
    hook: 'predeploy' | 'postdeploy',
    release: ReleaseRef,
    signal: AbortSignal,
  ): Promise<void>;
  /** Puts a host in the load balancer with a weight and waits until the balancer sees it up. */
  serve(host: string, weight: number, signal: AbortSignal): Promise<void>;
  /** Sets several weights at once. */
  setWeights(weights: Readonly<Record<string, number>>, signal: AbortSignal): Promise<void>;
  /** Stops new traffic to a host and waits for its in-flight requests to finish. */
  drain(host: string, signal: AbortSignal): Promise<void>;
  /** Removes a host (processes stop gracefully); nothing when it is gone. */
  deleteHost(host: string, signal: AbortSignal): Promise<void>;
  /** The balancer's counters for a host. */
  counters(host: string): Promise<ServerCounters>;
  /** Makes the hosts of a finished rollout the environment's own (for later applies and scaling). */
  adopt(hosts: readonly string[], release: ReleaseRef): Promise<void>;
}
