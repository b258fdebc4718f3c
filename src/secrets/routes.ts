import { z } from 'zod';
import {
  type AnyRoute,
  defineRoute,
  environmentScope,
  ForbiddenError,
  PLATFORM,
  type Principal,
  type RouteContext,
} from '../core/index.ts';
import { EnvironmentName, isAllowed } from '../identity/index.ts';
import {
  MAX_SECRET_LENGTH,
  Reason,
  SecretExport,
  SecretHistory,
  SecretImportResult,
  SecretMatrix,
  SecretName,
  SecretSetDetail,
  SecretSetVersionInfo,
  SecretStoreStatus,
  SecretSummary,
  SecretValue,
  SecretValueResult,
  SecretWriteResult,
} from './schema.ts';
import {
  deleteSecret,
  environmentKeyScope,
  exportSecrets,
  fingerprintOf,
  getSecretSet,
  importSecrets,
  listSecretSetVersions,
  listSecrets,
  readSecret,
  restoreSecret,
  rollbackSecret,
  secretHistory,
  secretMatrix,
  setSecret,
} from './secret-store.ts';
import type { SecretVault } from './secret-vault.ts';

/** What the secrets routes need from the server. */
export interface SecretsRouteOptions {
  readonly vault: SecretVault;
}

const EnvironmentParams = z.strictObject({ environment: EnvironmentName });
const SecretParams = z.strictObject({ environment: EnvironmentName, name: SecretName });
const SetParams = z.strictObject({ environment: EnvironmentName, version: z.coerce.number().int().min(0) });
const RootKeyText = z.string().trim().min(1).max(200);
const BASE = '/api/secrets/environments/:environment';

type Params = { environment: string; name?: string };
const viewer = {
  role: 'viewer' as const,
  scope: ({ params }: { params: Params }) => environmentScope(params.environment),
};
const admin = {
  role: 'admin' as const,
  scope: ({ params }: { params: Params }) => environmentScope(params.environment),
};
const secretTarget = ({ params }: { params: Params }) => `secret:${params.environment}/${params.name}`;
const environmentTarget = ({ params }: { params: Params }) => `secrets:${params.environment}`;

function actorOf(context: RouteContext<unknown>): Principal {
  // Role-guarded routes always have a principal; this keeps the types honest.
  if (!context.principal) throw new ForbiddenError('Not allowed: sign in first');
  return context.principal;
}

/** The secrets module's HTTP routes. Every call but `status` is audited, reads included. */
export function secretsRoutes(options: SecretsRouteOptions): AnyRoute[] {
  const { vault } = options;
  /** Records what the call is about, then refuses with 503 while the store is sealed. */
  const begin = (context: RouteContext<unknown>, details: Record<string, unknown>) => {
    context.audit.details = { ...context.audit.details, ...details };
    vault.requireUnsealed();
    return actorOf(context).username;
  };

  return [
    defineRoute({
      method: 'GET',
      path: '/api/secrets/status',
      summary: 'Whether the secret store is sealed, why, and what to do',
      tags: ['secrets'],
      access: 'authenticated',
      response: SecretStoreStatus,
      async handler() {
        return vault.status();
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/secrets/unseal',
      summary: 'Unseal the secret store with its root key (kept in memory only)',
      tags: ['secrets'],
      access: { role: 'admin', scope: PLATFORM },
      body: z.strictObject({ rootKey: RootKeyText }),
      response: z.object({
        sealed: z.literal(false),
        rootKeyId: z.string(),
        initialized: z.boolean(),
        alreadyUnsealed: z.boolean(),
      }),
      successStatus: 200,
      transaction: false,
      audit: { action: 'secrets.unseal', target: () => 'secret-store' },
      async handler(context) {
        const result = await vault.unseal(context.input.body.rootKey);
        context.audit.details = {
          rootKeyId: result.rootKeyId,
          initialized: result.initialized,
          alreadyUnsealed: result.alreadyUnsealed,
        };
        return { sealed: false as const, ...result };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/secrets/root-key/rotate',
      summary: 'Re-wrap every data key under a new root key (values are not touched)',
      tags: ['secrets'],
      access: { role: 'admin', scope: PLATFORM },
      body: z.strictObject({ currentRootKey: RootKeyText, newRootKey: RootKeyText }),
      response: z.object({
        rootKeyId: z.string(),
        previousRootKeyId: z.string(),
        rewrapped: z.number().int(),
        persisted: z.enum(['file', 'none']),
      }),
      successStatus: 200,
      transaction: false,
      audit: { action: 'secrets.root-key.rotate', target: () => 'secret-store' },
      async handler(context) {
        begin(context, {});
        const result = await vault.rotateRootKey(context.input.body);
        context.audit.details = { ...result };
        return result;
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/secrets/matrix',
      summary: 'Keys × environments you may view: missing keys, and equal values (by keyed HMAC)',
      tags: ['secrets'],
      access: 'authenticated',
      auditReads: true,
      audit: { action: 'secrets.matrix' },
      response: SecretMatrix,
      async handler(context) {
        const principal = actorOf(context);
        begin(context, {});
        const matrix = await secretMatrix(context.db, {
          canView: (environment) => isAllowed(principal, 'viewer', environmentScope(environment)),
        });
        context.audit.details = { environments: matrix.environments, keys: matrix.keys.length };
        return matrix;
      },
    }),
    defineRoute({
      method: 'GET',
      path: BASE,
      summary: "An environment's secrets: names and metadata, never values",
      tags: ['secrets'],
      access: viewer,
      params: EnvironmentParams,
      query: z.strictObject({ deleted: z.enum(['true', 'false']).default('false') }),
      auditReads: true,
      audit: { action: 'secrets.list', target: environmentTarget },
      response: z.object({
        environment: z.string(),
        setVersion: z.number().int(),
        secrets: z.array(SecretSummary),
      }),
      async handler(context) {
        const { environment } = context.input.params;
        begin(context, { environment });
        const result = await listSecrets(context.db, {
          environment,
          includeDeleted: context.input.query.deleted === 'true',
        });
        context.audit.details = { environment, setVersion: result.setVersion, count: result.secrets.length };
        return result;
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${BASE}/export`,
      summary: 'Every current value of an environment, for a .env export (administrators)',
      tags: ['secrets'],
      access: admin,
      params: EnvironmentParams,
      auditReads: true,
      audit: { action: 'secrets.export', target: environmentTarget },
      response: SecretExport,
      async handler(context) {
        const { environment } = context.input.params;
        begin(context, { environment });
        context.reply.header('cache-control', 'no-store');
        const { valueHmacs, ...result } = await exportSecrets(context.db, { vault, environment });
        context.audit.details = { environment, setVersion: result.setVersion, valueHmacs };
        return result;
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${BASE}/import`,
      summary: 'Set many secrets at once (from a .env file) as one secret set version',
      tags: ['secrets'],
      access: admin,
      params: EnvironmentParams,
      body: z
        .strictObject({
          entries: z
            .array(z.strictObject({ name: SecretName, value: SecretValue }))
            .min(1, 'give at least one entry')
            .max(2000, 'import at most 2000 secrets at once'),
          reason: Reason.optional(),
          replace: z.boolean().default(false),
        })
        .superRefine((body, ctx) => {
          const seen = new Set<string>();
          body.entries.forEach((entry, index) => {
            if (seen.has(entry.name)) {
              ctx.addIssue({
                code: 'custom',
                path: ['entries', index, 'name'],
                message: `${entry.name} appears more than once`,
              });
            }
            seen.add(entry.name);
          });
        }),
      bodyLimit: 2000 * (MAX_SECRET_LENGTH + 256),
      response: SecretImportResult,
      successStatus: 200,
      audit: { action: 'secrets.import', target: environmentTarget },
      async handler(context) {
        const { environment } = context.input.params;
        const actor = begin(context, { environment });
        const { valueHmacs, ...result } = await importSecrets(context.db, {
          vault,
          environment,
          entries: context.input.body.entries,
          replace: context.input.body.replace,
          actor,
          reason: context.input.body.reason,
        });
        context.audit.details = {
          environment,
          setVersion: result.setVersion,
          created: result.created,
          updated: result.updated,
          deleted: result.deleted,
          valueHmacs,
          ...(context.input.body.reason ? { reason: context.input.body.reason } : {}),
        };
        return result;
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${BASE}/data-key/rotate`,
      summary:
        'Start using a new data key for the environment; older values are re-encrypted in the background',
      tags: ['secrets'],
      access: admin,
      params: EnvironmentParams,
      response: z.object({ environment: z.string(), dataKeyId: z.string(), retired: z.number().int() }),
      successStatus: 200,
      audit: { action: 'secrets.data-key.rotate', target: environmentTarget },
      async handler(context) {
        const { environment } = context.input.params;
        begin(context, { environment });
        const result = await vault.rotateDataKey(context.db, environmentKeyScope(environment));
        context.audit.details = { environment, ...result };
        return { environment, ...result };
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${BASE}/sets`,
      summary: "An environment's secret set versions, newest first (what releases pin)",
      tags: ['secrets'],
      access: viewer,
      params: EnvironmentParams,
      query: z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
      auditReads: true,
      audit: { action: 'secrets.sets.list', target: environmentTarget },
      response: z.array(SecretSetVersionInfo),
      async handler(context) {
        const { environment } = context.input.params;
        begin(context, { environment });
        return listSecretSetVersions(context.db, { environment, limit: context.input.query.limit });
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${BASE}/sets/:version`,
      summary: 'One secret set version: its members (name → secret version), never values',
      tags: ['secrets'],
      access: viewer,
      params: SetParams,
      auditReads: true,
      audit: {
        action: 'secrets.sets.show',
        target: ({ params }) => `secret-set:${params.environment}@${params.version}`,
      },
      response: SecretSetDetail,
      async handler(context) {
        const { environment, version } = context.input.params;
        begin(context, { environment, setVersion: version });
        return getSecretSet(context.db, { environment, setVersion: version });
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${BASE}/:name`,
      summary: "A secret's metadata and its versions (never values)",
      tags: ['secrets'],
      access: viewer,
      params: SecretParams,
      auditReads: true,
      audit: { action: 'secrets.history', target: secretTarget },
      response: SecretHistory,
      async handler(context) {
        const { environment, name } = context.input.params;
        begin(context, { environment, name });
        return secretHistory(context.db, { environment, name });
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${BASE}/:name/value`,
      summary: "Read a secret's value, current or one version (administrators; audited)",
      tags: ['secrets'],
      access: admin,
      params: SecretParams,
      query: z.strictObject({ version: z.coerce.number().int().min(1).optional() }),
      auditReads: true,
      audit: { action: 'secrets.read', target: secretTarget },
      response: SecretValueResult,
      async handler(context) {
        const { environment, name } = context.input.params;
        begin(context, { environment, name });
        context.reply.header('cache-control', 'no-store');
        const { valueHmac, ...result } = await readSecret(context.db, {
          vault,
          environment,
          name,
          version: context.input.query.version,
        });
        context.audit.details = { environment, name, version: result.version, valueHmac };
        return result;
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${BASE}/:name`,
      summary: "Set a secret's value: a new version and a new secret set version",
      tags: ['secrets'],
      access: admin,
      params: SecretParams,
      body: z.strictObject({ value: SecretValue, reason: Reason.optional() }),
      bodyLimit: MAX_SECRET_LENGTH * 6 + 4096,
      response: SecretWriteResult,
      successStatus: 200,
      audit: { action: 'secrets.set', target: secretTarget },
      async handler(context) {
        const { environment, name } = context.input.params;
        const { value, reason } = context.input.body;
        const actor = begin(context, { environment, name });
        const result = await setSecret(context.db, { vault, environment, name, value, actor, reason });
        return written(context, result, reason);
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${BASE}/:name/rollback`,
      summary: 'Make an older version current again (as a new version with its value)',
      tags: ['secrets'],
      access: admin,
      params: SecretParams,
      body: z.strictObject({ toVersion: z.number().int().min(1), reason: Reason.optional() }),
      response: SecretWriteResult,
      successStatus: 200,
      audit: { action: 'secrets.rollback', target: secretTarget },
      async handler(context) {
        const { environment, name } = context.input.params;
        const { toVersion, reason } = context.input.body;
        const actor = begin(context, { environment, name, toVersion });
        const result = await rollbackSecret(context.db, {
          vault,
          environment,
          name,
          toVersion,
          actor,
          reason: reason ?? `rollback to version ${toVersion}`,
        });
        return written(context, result, reason, { toVersion });
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: `${BASE}/:name`,
      summary: 'Delete a secret (soft: restore brings it back)',
      tags: ['secrets'],
      access: admin,
      params: SecretParams,
      query: z.strictObject({ reason: Reason.optional() }),
      response: z.object({
        environment: z.string(),
        name: z.string(),
        version: z.number().int(),
        setVersion: z.number().int(),
      }),
      audit: { action: 'secrets.delete', target: secretTarget },
      async handler(context) {
        const { environment, name } = context.input.params;
        const reason = context.input.query.reason;
        const actor = begin(context, { environment, name });
        const result = await deleteSecret(context.db, { vault, environment, name, actor, reason });
        context.audit.details = { ...result, ...(reason ? { reason } : {}) };
        return result;
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${BASE}/:name/restore`,
      summary: 'Restore a deleted secret with the version it had',
      tags: ['secrets'],
      access: admin,
      params: SecretParams,
      body: z.strictObject({ reason: Reason.optional() }).default({}),
      response: z.object({
        environment: z.string(),
        name: z.string(),
        version: z.number().int(),
        setVersion: z.number().int(),
      }),
      successStatus: 200,
      audit: { action: 'secrets.restore', target: secretTarget },
      async handler(context) {
        const { environment, name } = context.input.params;
        const reason = context.input.body.reason;
        const actor = begin(context, { environment, name });
        const result = await restoreSecret(context.db, { vault, environment, name, actor, reason });
        context.audit.details = { ...result, ...(reason ? { reason } : {}) };
        return result;
      },
    }),
  ];
}

function written(
  context: RouteContext<unknown>,
  result: {
    environment: string;
    name: string;
    version: number;
    setVersion: number;
    changed: boolean;
    valueHmac: string;
  },
  reason: string | undefined,
  extra: Record<string, unknown> = {},
) {
  const { valueHmac, ...rest } = result;
  // The HMAC lets an auditor tell whether two writes stored the same value, without the value.
  context.audit.details = { ...rest, valueHmac, ...extra, ...(reason ? { reason } : {}) };
  return { ...rest, fingerprint: fingerprintOf(valueHmac) };
}
