/**
 * The JSON an environment definition compiles to: provider-neutral, with units in fixed scales
 * (milliseconds, MiB, GiB, percent). The control plane validates it again with zod
 * (src/environments/model.ts) before it trusts it.
 */
import type {
  DeployStrategyJson,
  InstanceSizeJson,
  PlacementJson,
  ProviderJson,
  ScalingJson,
} from './choices.ts';

export type { DeployStrategyJson, InstanceSizeJson, PlacementJson, ProviderJson, ScalingJson };

/** An HTTP health check. */
export interface HealthCheckJson {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
}

/** One service: a process type of an app (or a plain command), its size, count and placement. */
export interface ServiceJson {
  readonly name: string;
  readonly app: string | null;
  readonly processType: string;
  readonly command: readonly string[] | null;
  readonly port: number | null;
  readonly size: InstanceSizeJson;
  readonly scaling: ScalingJson;
  readonly placement: PlacementJson;
  readonly healthCheck: HealthCheckJson | null;
  readonly env: Readonly<Record<string, string>>;
  /** Environment variable name → secret name. */
  readonly secrets: Readonly<Record<string, string>>;
  readonly database: { readonly database: string; readonly role: string } | null;
  readonly stopTimeoutMs: number;
}

/** The environment's load balancer, in front of one service. */
export interface LoadBalancerJson {
  readonly name: string;
  readonly service: string;
  readonly ports: readonly number[];
  readonly healthCheck: HealthCheckJson;
}

/** The environment's PostgreSQL database server. */
export interface DatabaseJson {
  readonly name: string;
  readonly engine: 'postgresql';
  readonly version: number;
  readonly size: InstanceSizeJson;
  readonly storageGiB: number;
  readonly databases: readonly { readonly name: string; readonly owner: string }[];
  readonly roles: readonly { readonly name: string; readonly databases: readonly string[] }[];
  readonly replica: { readonly provider: ProviderJson } | null;
}

/** One environment, as the control plane receives it. */
export interface EnvironmentJson {
  readonly schemaVersion: 1;
  readonly name: string;
  readonly provider: ProviderJson;
  readonly tier: 'minimal' | 'standard';
  readonly approval: 'automatic' | 'admin';
  readonly config: Readonly<Record<string, string>>;
  readonly secrets: readonly string[];
  readonly access: { readonly admins: readonly string[]; readonly deployers: readonly string[] };
  readonly deploy: DeployStrategyJson;
  readonly promotion: { readonly requires: string | null };
  readonly services: readonly ServiceJson[];
  readonly loadBalancer: LoadBalancerJson | null;
  readonly database: DatabaseJson | null;
}
