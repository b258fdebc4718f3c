/**
 * What the DSL's types must not accept. `npx tsc --noEmit` checks every `@ts-expect-error` below: if
 * the DSL started accepting one of these, the directive would be unused and compilation would fail.
 */
import { expect, test } from 'vitest';
import {
  DeployStrategy,
  Duration,
  Environment,
  Infrastructure,
  InstanceSize,
  LoadBalancer,
  Percent,
  Provider,
  Scaling,
  SecretRef,
  Service,
  Size,
} from './index.ts';

test('the DSL types refuse bare numbers for units, unknown properties and constructs in the wrong scope', () => {
  const infra = new Infrastructure();
  const environment = new Environment(infra, 'types', { provider: Provider.local() });

  // @ts-expect-error a bare number is not a Scaling
  new Service(environment, 'a', { scaling: 2 });
  // @ts-expect-error durations are value objects, not milliseconds
  new Service(environment, 'b', { healthCheck: { timeout: 5 } });
  // @ts-expect-error an unknown property (a typo of "scaling")
  new Service(environment, 'c', { scalling: Scaling.fixed(2) });
  // @ts-expect-error a Service belongs to an Environment, not to the Infrastructure
  expect(() => new Service(infra, 'd', {})).toThrow('Service "d" must be created in an Environment');
  // @ts-expect-error Provider.local() takes no options
  Provider.local({ region: 'eu-west-1' });
  // @ts-expect-error a Size is not a Duration
  new Service(environment, 'e', { stopTimeout: Size.mebibytes(1) });
  // @ts-expect-error the provider is required
  new Environment(infra, 'x', {});
  // @ts-expect-error memory is a Size, not MiB
  InstanceSize.of({ vcpus: 1, memory: 512 });
  // @ts-expect-error a Percent is not a Duration
  DeployStrategy.canary({ pause: Percent.of(5) });
  // @ts-expect-error secrets are SecretRefs, never values
  new Service(environment, 'f', { secrets: { APP_KEY: 'base64:secret' } });
  // @ts-expect-error a region is required on AWS
  Provider.aws({});
  // @ts-expect-error a load balancer needs the Service itself, not its name
  new LoadBalancer(environment, 'public', { service: 'web' });
  // @ts-expect-error the tier is a closed set
  new Environment(infra, 'y', { provider: Provider.local(), tier: 'huge' });

  // What it accepts, for contrast.
  new Service(environment, 'ok', {
    port: 8080,
    scaling: Scaling.auto({ min: 1, max: 3, targetCpu: Percent.of(70) }),
    healthCheck: { path: '/healthz', timeout: Duration.seconds(1) },
    secrets: { APP_KEY: SecretRef.named('APP_KEY') },
  });
  expect(infra.synthesize().environments.map((e) => e.name)).toStrictEqual(['types', 'x', 'y']);
});
