import type { Generated } from 'kysely';
import { z } from 'zod';

/** Most characters a secret value may have (64 KiB of text covers keys and certificates). */
export const MAX_SECRET_LENGTH = 65_536;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A secret's name: an environment variable name in Laravel style, such as DB_PASSWORD. */
export const SecretName = z
  .string()
  .min(1)
  .max(128, 'use at most 128 characters')
  .regex(
    /^[A-Z_][A-Z0-9_]*$/,
    'use uppercase letters, digits and "_", starting with a letter or "_", like DB_PASSWORD',
  );

/** A secret value: any Unicode text up to 64 KiB (the empty string is allowed). */
export const SecretValue = z
  .string()
  .max(MAX_SECRET_LENGTH, `use at most ${MAX_SECRET_LENGTH} characters`)
  .refine((value) => !LONE_SURROGATE.test(value), 'the value must be valid Unicode text');

/** Why a change was made; shown in history and the audit log. Never put a secret here. */
export const Reason = z.string().trim().max(500, 'use at most 500 characters');

/** How a version came to be. */
export const VersionOrigin = z.enum(['set', 'import', 'rollback']);
export type VersionOrigin = z.infer<typeof VersionOrigin>;

/** What a secret set version changed. */
export const SetChangeAction = z.enum(['set', 'import', 'rollback', 'delete', 'restore']);
export type SetChangeAction = z.infer<typeof SetChangeAction>;

/** A secret as viewers see it: name and metadata, never the value. */
export const SecretSummary = z.object({
  environment: z.string(),
  name: z.string(),
  /** The current version. */
  version: z.number().int(),
  /** The first 12 hex digits of the keyed HMAC of the current value: equal values, equal fingerprints. */
  fingerprint: z.string(),
  updatedAt: z.string(),
  updatedBy: z.string(),
  reason: z.string().nullable(),
  createdAt: z.string(),
  createdBy: z.string(),
  deletedAt: z.string().nullable(),
  deletedBy: z.string().nullable(),
  deleteReason: z.string().nullable(),
});
export type SecretSummary = z.infer<typeof SecretSummary>;

/** One version of a secret, without its value. */
export const SecretVersionInfo = z.object({
  version: z.number().int(),
  origin: VersionOrigin,
  rolledBackFrom: z.number().int().nullable(),
  reason: z.string().nullable(),
  createdAt: z.string(),
  createdBy: z.string(),
  fingerprint: z.string(),
  /** The value was destroyed by the keep-last-N rule; the metadata stays. */
  destroyed: z.boolean(),
  current: z.boolean(),
});
export type SecretVersionInfo = z.infer<typeof SecretVersionInfo>;

/** A secret and its versions, newest first. */
export const SecretHistory = z.object({ secret: SecretSummary, versions: z.array(SecretVersionInfo) });
export type SecretHistory = z.infer<typeof SecretHistory>;

/** One change a secret set version records. */
export const SetChange = z.object({
  name: z.string(),
  action: SetChangeAction,
  /** The secret's version after the change (its last version for a delete). */
  version: z.number().int(),
});
export type SetChange = z.infer<typeof SetChange>;

/** A secret set version: what changed, when, by whom. */
export const SecretSetVersionInfo = z.object({
  environment: z.string(),
  version: z.number().int(),
  createdAt: z.string(),
  createdBy: z.string(),
  reason: z.string().nullable(),
  changes: z.array(SetChange),
  /** How many secrets the set holds. */
  size: z.number().int(),
  /** Pinned by releases (their ids), so their values are kept. */
  pinnedBy: z.array(z.string()),
});
export type SecretSetVersionInfo = z.infer<typeof SecretSetVersionInfo>;

/** A secret set version with its members: name → secret version. */
export const SecretSetDetail = SecretSetVersionInfo.extend({
  members: z.record(z.string(), z.number().int()),
});
export type SecretSetDetail = z.infer<typeof SecretSetDetail>;

/** A value, for administrators. */
export const SecretValueResult = z.object({
  environment: z.string(),
  name: z.string(),
  version: z.number().int(),
  value: z.string(),
});
export type SecretValueResult = z.infer<typeof SecretValueResult>;

/** What a write did. */
export const SecretWriteResult = z.object({
  environment: z.string(),
  name: z.string(),
  version: z.number().int(),
  /** The environment's secret set version after the write. */
  setVersion: z.number().int(),
  /** False when the value was already the current one (no new version). */
  changed: z.boolean(),
  fingerprint: z.string(),
});
export type SecretWriteResult = z.infer<typeof SecretWriteResult>;

/** What an import did, by name. */
export const SecretImportResult = z.object({
  environment: z.string(),
  setVersion: z.number().int(),
  created: z.array(z.string()),
  updated: z.array(z.string()),
  unchanged: z.array(z.string()),
  deleted: z.array(z.string()),
});
export type SecretImportResult = z.infer<typeof SecretImportResult>;

/** Every current value of an environment (administrators only). */
export const SecretExport = z.object({
  environment: z.string(),
  setVersion: z.number().int(),
  entries: z.array(z.object({ name: z.string(), value: z.string() })),
});
export type SecretExport = z.infer<typeof SecretExport>;

/** Whether the store can be used, and why not. */
export const SecretStoreStatus = z.object({
  sealed: z.boolean(),
  reason: z.string().nullable(),
  hint: z.string().nullable(),
  /** The root key's id (a fingerprint), when one is held. */
  rootKeyId: z.string().nullable(),
  rootKeySource: z.enum(['file', 'environment', 'unseal', 'kms', 'none']),
  versionsKept: z.number().int(),
});
export type SecretStoreStatus = z.infer<typeof SecretStoreStatus>;

/** One cell of the keys × environments matrix. */
export const MatrixCell = z.object({
  version: z.number().int(),
  /** Cells of one key with the same number hold the same value (compared by keyed HMAC). */
  valueGroup: z.number().int(),
});

/** The keys × environments matrix: which environment lacks which key, and where values are equal. */
export const SecretMatrix = z.object({
  environments: z.array(z.string()),
  keys: z.array(
    z.object({
      name: z.string(),
      cells: z.record(z.string(), MatrixCell.nullable()),
      /** The environments lacking this key. */
      missing: z.array(z.string()),
      /** Groups of environments holding the same value (only groups of two or more). */
      sameValue: z.array(z.array(z.string())),
    }),
  ),
});
export type SecretMatrix = z.infer<typeof SecretMatrix>;

/** Tables owned by the secrets module. */
export interface SecretsTables {
  secret_root: {
    id: number;
    root_key_id: string;
    hmac_key_wrapped: Buffer;
    created_at: Generated<Date>;
    rotated_at: Date | null;
  };
  secret_data_keys: {
    id: string;
    scope: string;
    wrapped_key: Buffer;
    root_key_id: string;
    created_at: Generated<Date>;
    retired_at: Date | null;
  };
  secret_environments: { environment: string; set_version: Generated<number>; updated_at: Generated<Date> };
  secrets: {
    id: string;
    environment: string;
    name: string;
    current_version: number;
    created_at: Generated<Date>;
    created_by: string;
    deleted_at: Date | null;
    deleted_by: string | null;
    delete_reason: string | null;
  };
  secret_versions: {
    secret_id: string;
    version: number;
    data_key_id: string | null;
    nonce: Buffer | null;
    ciphertext: Buffer | null;
    value_hmac: string;
    origin: VersionOrigin;
    rolled_back_from: number | null;
    reason: string | null;
    created_at: Generated<Date>;
    created_by: string;
    destroyed_at: Date | null;
  };
  secret_set_versions: {
    environment: string;
    version: number;
    members: Record<string, number>;
    changes: SetChange[];
    reason: string | null;
    created_at: Generated<Date>;
    created_by: string;
  };
  secret_set_pins: {
    environment: string;
    set_version: number;
    pinned_by: string;
    pinned_at: Generated<Date>;
  };
}
