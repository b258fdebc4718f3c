/**
 * From an environment's model to the resources a provider makes (provider-neutral), and the
 * difference between what is wanted and what exists: the changes a plan lists, in the order an
 * apply makes them. Deterministic: ids are stable and specs are canonical JSON.
 */
import { canonicalJson, hashOf } from './canonical.ts';
import type { EnvironmentModel, ServiceModel } from './model.ts';
import type { ResourceChange } from './schema.ts';

/** The kinds of resources, in the order they are created (and the reverse order they are removed). */
export const RESOURCE_ORDER = ['database', 'host', 'load-balancer', 'binding'] as const;
export type ResourceKind = (typeof RESOURCE_ORDER)[number];

/** One resource a model asks for. */
export interface DesiredResource {
  /** "database/main", "host/web-1", "load-balancer/public", "binding/admin/user:alice". */
  readonly id: string;
  readonly kind: ResourceKind;
  readonly spec: Record<string, unknown>;
}

/** A resource as recorded after (part of) an apply. */
export interface RecordedResource {
  readonly id: string;
  readonly kind: string;
  readonly spec: unknown;
  readonly specHash: string;
  /** 'ready', or 'creating'/'updating'/'deleting' when an apply stopped half-way. */
  readonly status: string;
}

/** The hosts a model asks for: one per instance of each service with dedicated placement. */
export function plannedHosts(
  model: EnvironmentModel,
): { name: string; service: ServiceModel; index: number; services: string[]; zone: string | null }[] {
  const colocated = (target: string) =>
    model.services
      .filter((s) => s.placement.mode === 'with' && s.placement.service === target)
      .map((s) => s.name);
  const hosts = [];
  for (const service of model.services) {
    if (service.placement.mode !== 'dedicated') continue;
    const count = service.scaling.mode === 'fixed' ? service.scaling.count : service.scaling.min;
    const zones = service.placement.zones;
    for (let index = 1; index <= count; index++) {
      hosts.push({
        name: `${service.name}-${index}`,
        service,
        index,
        services: [service.name, ...colocated(service.name)].sort(),
        zone: zones.length > 0 ? zones[(index - 1) % zones.length]! : null,
      });
    }
  }
  return hosts.sort((a, b) => a.name.localeCompare(b.name));
}

function processSummary(model: EnvironmentModel, service: ServiceModel) {
  return {
    app: service.app,
    processType: service.processType,
    command: service.command,
    port: service.port,
    healthCheck: service.healthCheck,
    env: { ...model.config, ...service.env },
    secrets: service.secrets,
    database: service.database,
    stopTimeoutMs: service.stopTimeoutMs,
  };
}

/** Every resource the model asks for, sorted by kind order then id. */
export function desiredResources(model: EnvironmentModel): DesiredResource[] {
  const resources: DesiredResource[] = [];
  const db = model.database;
  if (db) {
    resources.push({
      id: `database/${db.name}`,
      kind: 'database',
      spec: {
        name: db.name,
        version: db.version,
        size: db.size,
        storageGiB: db.storageGiB,
        databases: db.databases,
        roles: db.roles,
        replica: db.replica,
      },
    });
  }
  const services = new Map(model.services.map((s) => [s.name, s]));
  for (const host of plannedHosts(model)) {
    resources.push({
      id: `host/${host.name}`,
      kind: 'host',
      spec: {
        services: host.services,
        size: host.service.size,
        zone: host.zone,
        processes: Object.fromEntries(
          host.services.map((name) => [name, processSummary(model, services.get(name)!)]),
        ),
      },
    });
  }
  const lb = model.loadBalancer;
  if (lb) {
    resources.push({
      id: `load-balancer/${lb.name}`,
      kind: 'load-balancer',
      spec: {
        name: lb.name,
        service: lb.service,
        ports: lb.ports,
        healthCheck: lb.healthCheck,
        servers: plannedHosts(model)
          .filter((h) => h.services.includes(lb.service))
          .map((h) => h.name),
      },
    });
  }
  for (const [role, subjects] of [
    ['admin', model.access.admins],
    ['deployer', model.access.deployers],
  ] as const) {
    for (const subject of subjects)
      resources.push({ id: `binding/${role}/${subject}`, kind: 'binding', spec: { role, subject } });
  }
  return sortResources(resources);
}

/** Sorts by kind (creation order), then id. */
export function sortResources<T extends { kind: string; id: string }>(resources: readonly T[]): T[] {
  const rank = (kind: string) => {
    const i = RESOURCE_ORDER.indexOf(kind as ResourceKind);
    return i < 0 ? RESOURCE_ORDER.length : i;
  };
  return [...resources].sort((a, b) => rank(a.kind) - rank(b.kind) || a.id.localeCompare(b.id));
}

/** The hash a resource's spec is recorded with. */
export function specHash(spec: unknown): string {
  return hashOf(spec);
}

/** Field-level differences between two specs (paths in dots; lists compared whole). */
export function fieldChanges(before: unknown, after: unknown, path = ''): ResourceChange['fields'] {
  if (canonicalJson(before) === canonicalJson(after)) return [];
  const isRecord = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isRecord(before) && isRecord(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => fieldChanges(before[key], after[key], path ? `${path}.${key}` : key));
  }
  return [{ path: path || '(all)', before: before ?? null, after: after ?? null }];
}

/** One line describing a resource for people. */
export function describeResource(kind: string, spec: unknown): string {
  const s = (spec ?? {}) as Record<string, any>;
  switch (kind) {
    case 'database':
      return `PostgreSQL ${s.version}: databases ${(s.databases ?? []).map((d: { name: string }) => d.name).join(', ')}; roles ${(s.roles ?? []).map((r: { name: string }) => r.name).join(', ')}${s.replica ? `; replica on ${s.replica.provider.vendor}` : ''}`;
    case 'host':
      return `host for ${(s.services ?? []).join(' + ')} (${s.size?.name ?? '?'}: ${s.size?.vcpus ?? '?'} vCPU, ${s.size?.memoryMiB ?? '?'} MiB${s.zone ? `, zone ${s.zone}` : ''})`;
    case 'load-balancer':
      return `load balancer on port${(s.ports ?? []).length === 1 ? '' : 's'} ${(s.ports ?? []).join(', ')} → ${s.service} (${(s.servers ?? []).join(', ') || 'no servers'}; check GET ${s.healthCheck?.path})`;
    case 'binding':
      return `${s.subject} holds "${s.role}" on this environment`;
    default:
      return kind;
  }
}

/**
 * The changes that bring `current` to `desired`. A resource an apply left half-way is planned again
 * (as an update), so a resumed apply finishes it.
 */
export function diffResources(
  desired: readonly DesiredResource[],
  current: readonly RecordedResource[],
): ResourceChange[] {
  const existing = new Map(current.map((r) => [r.id, r]));
  const wanted = new Set(desired.map((r) => r.id));
  const changes: ResourceChange[] = [];
  for (const resource of desired) {
    const recorded = existing.get(resource.id);
    if (!recorded) {
      changes.push({
        action: 'create',
        resource: resource.id,
        kind: resource.kind,
        description: describeResource(resource.kind, resource.spec),
        fields: [],
      });
    } else if (recorded.specHash !== specHash(resource.spec) || recorded.status !== 'ready') {
      const fields = fieldChanges(recorded.spec, resource.spec);
      changes.push({
        action: recorded.status === 'creating' ? 'create' : 'update',
        resource: resource.id,
        kind: resource.kind,
        description:
          fields.length === 0
            ? `${describeResource(resource.kind, resource.spec)} (finish the interrupted apply)`
            : describeResource(resource.kind, resource.spec),
        fields,
      });
    }
  }
  for (const recorded of sortResources(current).reverse()) {
    if (!wanted.has(recorded.id)) {
      changes.push({
        action: 'delete',
        resource: recorded.id,
        kind: recorded.kind,
        description: describeResource(recorded.kind, recorded.spec),
        fields: [],
      });
    }
  }
  return changes;
}

/** Counts of a plan's changes. */
export function summarize(changes: readonly ResourceChange[]): {
  create: number;
  update: number;
  delete: number;
} {
  return {
    create: changes.filter((c) => c.action === 'create').length,
    update: changes.filter((c) => c.action === 'update').length,
    delete: changes.filter((c) => c.action === 'delete').length,
  };
}
