/**
 * @module The environment DSL, for infrastructure repositories:
 * `import { Environment, Service, … } from 'slipway/environments'`.
 *
 * @example
 * const infra = new Infrastructure();
 * const staging = new Environment(infra, 'staging', { provider: Provider.local(), admins: ['group:ops'] });
 * const web = new Service(staging, 'web', { app: 'laravel-app', port: 8080, scaling: Scaling.fixed(2) });
 * new LoadBalancer(staging, 'public', { service: web, ports: [80] });
 * new Database(staging, 'main', { databases: ['app'], roles: [{ name: 'app', databases: ['app'] }] });
 */
export {
  Approval,
  type AutoScalingProps,
  type AwsProviderProps,
  type BlueGreenProps,
  type CanaryProps,
  type DedicatedPlacementProps,
  DeployStrategy,
  type GcpProviderProps,
  InstanceSize,
  type InstanceSizeProps,
  Placement,
  Promotion,
  Provider,
  type RollingProps,
  Scaling,
  SecretRef,
} from './choices.ts';
export {
  Database,
  type DatabaseProps,
  type DatabaseRoleProps,
  type DatabaseSchemaProps,
  Environment,
  type EnvironmentProps,
  type HealthCheckProps,
  Infrastructure,
  LoadBalancer,
  type LoadBalancerProps,
  Service,
  type ServiceProps,
  type SynthesisResult,
  synthesizeEnvironments,
} from './constructs.ts';
export type {
  DatabaseJson,
  DeployStrategyJson,
  EnvironmentJson,
  HealthCheckJson,
  InstanceSizeJson,
  LoadBalancerJson,
  PlacementJson,
  ProviderJson,
  ScalingJson,
  ServiceJson,
} from './model-json.ts';
export type { DefinitionProblem } from './problems.ts';
export { Duration, Percent, Size } from './units.ts';
