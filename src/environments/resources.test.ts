import { describe, expect, test } from 'vitest';
import type { EnvironmentModel } from './model.ts';
import { desiredResources, diffResources, plannedHosts, specHash } from './resources.ts';
import { emptyModel } from './testing.ts';

function model(overrides: Partial<EnvironmentModel> = {}): EnvironmentModel {
  const base = emptyModel('staging');
  const web = {
    name: 'web',
    app: null,
    processType: 'web',
    command: ['node', 'server.js'],
    port: 8080,
    size: { name: 'small', vcpus: 0.5, memoryMiB: 512 },
    scaling: { mode: 'fixed' as const, count: 2 },
    placement: { mode: 'dedicated' as const, zones: ['a', 'b'] },
    healthCheck: null,
    env: {},
    secrets: {},
    database: null,
    stopTimeoutMs: 30_000,
  };
  const worker = {
    ...web,
    name: 'worker',
    processType: 'worker',
    port: null,
    placement: { mode: 'with' as const, service: 'web' },
  };
  return {
    ...base,
    services: [web, worker],
    loadBalancer: {
      name: 'public',
      service: 'web',
      ports: [80],
      healthCheck: { path: '/healthz', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3 },
    },
    access: { admins: ['user:alice'], deployers: [] },
    ...overrides,
  };
}

describe('resources of a model', () => {
  test('one host per instance of each dedicated service, colocated services on them, zones round robin', () => {
    expect(plannedHosts(model()).map((h) => [h.name, h.services, h.zone])).toStrictEqual([
      ['web-1', ['web', 'worker'], 'a'],
      ['web-2', ['web', 'worker'], 'b'],
    ]);
    expect(desiredResources(model()).map((r) => r.id)).toStrictEqual([
      'host/web-1',
      'host/web-2',
      'load-balancer/public',
      'binding/admin/user:alice',
    ]);
  });

  test('a plan lists creations, field-level changes and removals; the same model plans nothing', () => {
    const recorded = desiredResources(model()).map((r) => ({
      id: r.id,
      kind: r.kind,
      spec: r.spec,
      specHash: specHash(r.spec),
      status: 'ready',
    }));
    expect(diffResources(desiredResources(model()), recorded)).toStrictEqual([]);
    const next = model({ config: { APP_ENV: 'staging' }, access: { admins: [], deployers: ['group:ops'] } });
    next.services[0]!.scaling = { mode: 'fixed', count: 1 };
    const changes = diffResources(desiredResources(next), recorded);
    expect(changes.map((c) => `${c.action} ${c.resource}`)).toStrictEqual([
      'update host/web-1',
      'update load-balancer/public',
      'create binding/deployer/group:ops',
      'delete binding/admin/user:alice',
      'delete host/web-2',
    ]);
    expect(changes[0]!.fields).toStrictEqual([
      { path: 'processes.web.env.APP_ENV', before: null, after: 'staging' },
      { path: 'processes.worker.env.APP_ENV', before: null, after: 'staging' },
    ]);
  });

  test('a resource an interrupted apply left half-made is planned again', () => {
    const recorded = desiredResources(model()).map((r) => ({
      id: r.id,
      kind: r.kind,
      spec: r.spec,
      specHash: specHash(r.spec),
      status: r.id === 'host/web-2' ? 'creating' : 'ready',
    }));
    expect(
      diffResources(desiredResources(model()), recorded).map((c) => [
        c.action,
        c.resource,
        c.description.endsWith('(finish the interrupted apply)'),
      ]),
    ).toStrictEqual([['create', 'host/web-2', true]]);
  });
});
