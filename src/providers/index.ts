/** @module Providers: how an environment becomes real. `local` runs hosts as sandboxes on this machine. */

export {
  type LoadBalancerSpec,
  LocalLoadBalancer,
  renderHaproxyConfig,
} from './local/haproxy-load-balancer.ts';
export {
  type AddServerOptions,
  HaproxyCommandError,
  HaproxyRuntime,
  type ServerAdminState,
  type ServerStat,
  type ServerState,
} from './local/haproxy-runtime.ts';
export {
  describeIsolation,
  detectSandboxSupport,
  LocalHost,
  type SandboxSupport,
} from './local/host-sandbox.ts';
export { LocalProvider, type LocalProviderOptions } from './local/local-provider.ts';
export { localProviderMigrations } from './local/migrations.ts';
export { localPortRange, PortAllocator } from './local/port-allocator.ts';
export { planOnlyProvider } from './plan-only-provider.ts';
export type {
  DatabaseOutputs,
  DatabaseRequest,
  EnvironmentObservation,
  EnvironmentProvider,
  HostObservation,
  HostOutputs,
  HostRequest,
  LoadBalancerControl,
  LoadBalancerOutputs,
  LoadBalancerRequest,
  ProviderContext,
  SupervisionEvent,
} from './provider.ts';
