import { describe, expect, test } from 'vitest';
import {
  Approval,
  Database,
  DeployStrategy,
  Duration,
  Environment,
  Infrastructure,
  InstanceSize,
  LoadBalancer,
  Percent,
  Placement,
  Provider,
  Scaling,
  SecretRef,
  Service,
  Size,
} from './index.ts';

function staging() {
  const infra = new Infrastructure();
  const environment = new Environment(infra, 'staging', {
    provider: Provider.local(),
    secrets: ['APP_KEY'],
    admins: ['group:ops', 'user:alice'],
    config: { APP_ENV: 'staging' },
  });
  return { infra, environment };
}

describe('the environment DSL', () => {
  test('compiles a definition to provider-neutral JSON with units in fixed scales', () => {
    const { infra, environment } = staging();
    const web = new Service(environment, 'web', {
      app: 'laravel-app',
      port: 8080,
      scaling: Scaling.auto({ min: 2, max: 6, targetCpu: Percent.of(60) }),
      size: InstanceSize.of({ vcpus: 2, memory: Size.gibibytes(4) }),
      healthCheck: { path: '/up', interval: Duration.seconds(5), timeout: Duration.millis(1500) },
      stopTimeout: Duration.minutes(1),
    });
    web.useSecret('APP_KEY', SecretRef.named('APP_KEY'));
    new LoadBalancer(environment, 'public', { service: web, ports: [443, 80] });
    new Database(environment, 'main', {
      databases: ['app'],
      roles: [{ name: 'app', databases: ['app'] }],
      storage: Size.gibibytes(20),
      replica: { provider: Provider.gcp({ region: 'europe-west1' }) },
    });
    const { environments, problems } = infra.synthesize();
    expect(problems).toStrictEqual([]);
    const [json] = environments;
    expect(json!.services[0]).toStrictEqual({
      name: 'web',
      app: 'laravel-app',
      processType: 'web',
      command: null,
      port: 8080,
      size: { name: 'custom', vcpus: 2, memoryMiB: 4096 },
      scaling: { mode: 'auto', min: 2, max: 6, targetCpuPercent: 60 },
      placement: { mode: 'dedicated', zones: [] },
      healthCheck: { path: '/up', intervalMs: 5000, timeoutMs: 1500, rise: 2, fall: 3 },
      env: {},
      secrets: { APP_KEY: 'APP_KEY' },
      database: { database: 'app', role: 'app' },
      stopTimeoutMs: 60_000,
    });
    expect(json!.loadBalancer).toStrictEqual({
      name: 'public',
      service: 'web',
      ports: [80, 443],
      healthCheck: { path: '/up', intervalMs: 5000, timeoutMs: 1500, rise: 2, fall: 3 },
    });
    expect(json!.database?.replica).toStrictEqual({
      provider: { kind: 'gcp', vendor: 'gcp', region: 'europe-west1', project: null },
    });
    expect(json!.access).toStrictEqual({ admins: ['group:ops', 'user:alice'], deployers: [] });
    // Deterministic: the same definition gives the same text.
    expect(JSON.stringify(infra.synthesize().environments)).toBe(JSON.stringify(environments));
  });

  test('integration is minimal and applies on its own by default; other environments are standard and wait for an admin', () => {
    const infra = new Infrastructure();
    const integration = new Environment(infra, 'integration', { provider: Provider.local() });
    new Service(integration, 'web', { port: 8080 });
    const production = new Environment(infra, 'production', {
      provider: Provider.aws({ region: 'eu-west-1' }),
    });
    new Service(production, 'web', { port: 8080 });
    const [i, p] = infra.synthesize().environments;
    expect([i!.tier, i!.approval, i!.services[0]!.scaling, i!.services[0]!.size.name]).toStrictEqual([
      'minimal',
      'automatic',
      { mode: 'fixed', count: 1 },
      'small',
    ]);
    expect([p!.tier, p!.approval, p!.services[0]!.scaling, p!.services[0]!.size.name]).toStrictEqual([
      'standard',
      'admin',
      { mode: 'fixed', count: 2 },
      'medium',
    ]);
    expect(p!.deploy).toStrictEqual({ strategy: 'rolling', batchSize: 1, maxSurge: 1, maxUnavailable: 0 });
  });

  test('records every problem with its path, value, message and fix instead of stopping at the first', () => {
    const { infra, environment } = staging();
    new Service(environment, 'web', {
      // @ts-expect-error the typo under test
      scalling: Scaling.fixed(2),
      port: 8080,
    });
    new Service(environment, 'worker', {
      scaling: Scaling.auto({ min: 5, max: 3 }),
      stopTimeout: Duration.seconds(-1),
    });
    const web2 = new Service(environment, 'api', { port: 70_000 });
    new LoadBalancer(environment, 'public', { service: web2, ports: [80, 80] });
    const { problems } = infra.synthesize();
    expect(problems).toStrictEqual([
      {
        path: 'staging.services.web.scalling',
        value: 'Scaling.fixed(2)',
        message: '"scalling" is not a property of Service',
        fix: 'Did you mean "scaling"? Rename "scalling" to "scaling"',
      },
      {
        path: 'staging.services.worker.scaling.min',
        value: 5,
        message: "'min' (5) must not be greater than 'max' (3)",
        fix: 'Set max to 5 or more, or min to 3 or less',
      },
      {
        path: 'staging.services.worker.stopTimeout',
        value: -1,
        message: 'a duration in seconds (-1) is below 0',
        fix: 'Use Duration.seconds(30)',
      },
      {
        path: 'staging.services.api.port',
        value: 70_000,
        message: "'port' (70000) is above 65535",
        fix: 'Use port: 8080',
      },
      {
        path: 'staging.loadBalancer.ports.1',
        value: 80,
        message: 'the port 80 is listed twice',
        fix: 'Remove the second 80',
      },
    ]);
  });

  test('refuses references the definition cannot satisfy', () => {
    const infra = new Infrastructure();
    const environment = new Environment(infra, 'staging', {
      provider: Provider.aws({ region: 'eu-west-1' }),
    });
    const worker = new Service(environment, 'worker');
    new LoadBalancer(environment, 'public', { service: worker });
    new Database(environment, 'main', {
      databases: [{ name: 'app', owner: 'nobody' }],
      roles: [{ name: 'app', databases: ['other'] }],
      replica: { provider: Provider.aws({ region: 'us-east-1' }) },
    });
    const messages = infra.synthesize().problems.map((p) => `${p.path}: ${p.message}`);
    expect(messages).toStrictEqual([
      'staging.loadBalancer.service: the service "worker" has no port to send traffic to',
      'staging.database.databases.0.owner: the owner "nobody" is not one of the roles',
      'staging.database.roles.0.databases.0: the role "app" names the database "other", which is not in \'databases\'',
      'staging.database.replica.provider: the replica must be on another vendor than the environment (aws)',
    ]);
  });

  test('choices check their own arguments', () => {
    const infra = new Infrastructure();
    const environment = new Environment(infra, 'qa', {
      provider: Provider.local(),
      deploy: DeployStrategy.canary({ steps: [50, 10], pause: Duration.minutes(1) }),
      approval: Approval.automatic(),
    });
    new Service(environment, 'web', {
      port: 8080,
      placement: Placement.dedicated({ zones: ['Zone A'] }),
      size: InstanceSize.of({ vcpus: 100, memory: Size.mebibytes(64) }),
    });
    expect(infra.synthesize().problems.map((p) => p.path)).toStrictEqual([
      'qa.deploy.steps',
      'qa.services.web.size.vcpus',
      'qa.services.web.placement.zones',
    ]);
  });
});
