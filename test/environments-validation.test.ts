/**
 * Invalid definitions are rejected with precise messages (file, property path, value, fix), a whole
 * repository at once, by evaluating it for real in the bubblewrap sandbox.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { evaluateRepository, formatProblems } from '../src/environments/index.ts';
import { createInfraRepository, type InfraRepository } from '../src/environments/testing.ts';
import { environmentFile } from './environments-support.ts';

let repo: InfraRepository;

beforeAll(async () => {
  repo = await createInfraRepository();
});
afterAll(async () => {
  await repo?.remove();
});

describe('validation of an infrastructure repository', () => {
  test('reports every problem of every file, each with its file, property path, value and fix', async () => {
    await repo.commit({
      // a typo'd property, min > max, an unknown secret reference, two services on one port
      'environments/integration.ts': environmentFile('integration', {
        webExtra: 'replicas: 3,',
        extra: `
new Service(environment, 'api', { port: 8080, scaling: Scaling.auto({ min: 4, max: 2 }), secrets: { STRIPE_KEY: SecretRef.named('STRIPE_KEY') } });
`,
      }).replace('Approval, Database,', 'Approval, Database, SecretRef,'),
      'environments/staging.ts': environmentFile('staging'),
      'environments/qa.ts': "import { Infrastructure } from 'slipway/environments';\nnew Infrastructure();\n",
      'environments/broken.ts': 'export const x = ;\n',
      'environments/prod.ts': environmentFile('production'),
    });
    const { environments, problems } = await evaluateRepository(repo.path);
    expect(environments.map((e) => e.model.name)).toStrictEqual(['staging']);
    expect(
      problems.map(({ file, path, value, message, fix }) => ({ file, path, value, message, fix })),
    ).toStrictEqual([
      {
        file: 'environments/broken.ts',
        path: 'environments/broken.ts:1:17',
        value: undefined,
        message: 'cannot compile the file: Unexpected ";"',
        fix: 'Fix the TypeScript error at that line (environment files may import "slipway/environments" and files of the repository)',
      },
      {
        file: 'environments/integration.ts',
        path: 'integration.services.web.replicas',
        value: 3,
        message: '"replicas" is not a property of Service',
        fix: 'Remove "replicas"; Service takes "app", "processType", "command", "port", "size", "scaling", "placement", "healthCheck", "env", "secrets", "database", "stopTimeout"',
      },
      {
        file: 'environments/integration.ts',
        path: 'integration.services.api.scaling.min',
        value: 4,
        message: "'min' (4) must not be greater than 'max' (2)",
        fix: 'Set max to 4 or more, or min to 2 or less',
      },
      {
        file: 'environments/integration.ts',
        path: 'integration.services.api.secrets.STRIPE_KEY',
        value: 'STRIPE_KEY',
        message: 'the secret "STRIPE_KEY" is not declared by the environment "integration"',
        fix: 'Add secrets: ["STRIPE_KEY"] to the environment "integration"',
      },
      {
        file: 'environments/integration.ts',
        path: 'integration.services.web.port',
        value: 8080,
        message: 'the port 8080 is already used by the service "api"',
        fix: 'Give "web" another port, like 8081; each port names one service',
      },
      {
        file: 'environments/prod.ts',
        path: 'production',
        value: 'production',
        message: 'the environment "production" is defined in "environments/prod.ts"',
        fix: 'Move it to environments/production.ts: each file defines the environment it is named after',
      },
      {
        file: 'environments/qa.ts',
        path: '',
        value: undefined,
        message: 'the file defines no environment',
        fix: 'Create one with new Environment(new Infrastructure(), NAME, {...}), or move shared code out of environments/',
      },
    ]);
    expect(formatProblems(problems.slice(1, 2))).toBe(
      'environments/integration.ts: integration.services.web.replicas = 3: "replicas" is not a property of Service\n    fix: Remove "replicas"; Service takes "app", "processType", "command", "port", "size", "scaling", "placement", "healthCheck", "env", "secrets", "database", "stopTimeout"',
    );
  });

  test('runs the files without network and without writing to the repository', async () => {
    await repo.commit({
      'environments/integration.ts': environmentFile('integration', {
        extra: `
import { writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
let wrote = 'no';
try { writeFileSync('environments/escape.txt', 'x'); wrote = 'yes'; } catch {}
const socket = createConnection(53, '1.1.1.1');
socket.on('error', () => undefined);
environment.addProblem({ path: 'integration.sandbox', value: wrote, message: 'probe', fix: 'none' });
`,
      }),
      'environments/staging.ts': null,
      'environments/qa.ts': null,
      'environments/broken.ts': null,
      'environments/prod.ts': null,
    });
    const { problems } = await evaluateRepository(repo.path);
    expect(problems).toStrictEqual([
      {
        file: 'environments/integration.ts',
        path: 'integration.sandbox',
        value: 'no',
        message: 'probe',
        fix: 'none',
      },
    ]);
  });
});

describe('the example infrastructure repository (examples/infrastructure, used by `slipway demo`)', () => {
  test('is valid: integration, staging and production, each running the reference app', async () => {
    const example = new URL('../examples/infrastructure', import.meta.url).pathname;
    const { environments, problems } = await evaluateRepository(example);
    expect(formatProblems(problems)).toBe('');
    expect(environments.map((e) => e.model.name).sort()).toStrictEqual([
      'integration',
      'production',
      'staging',
    ]);
    for (const { model } of environments) {
      expect(model.services.map((s) => [s.name, s.app])).toStrictEqual([
        ['web', 'laravel-app'],
        ['worker', 'laravel-app'],
      ]);
    }
    const promotion = Object.fromEntries(environments.map((e) => [e.model.name, e.model.promotion]));
    expect(promotion).toMatchObject({
      staging: { requires: 'integration' },
      production: { requires: 'staging' },
    });
  });
});
