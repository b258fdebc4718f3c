import type { Generated } from 'kysely';
import { z } from 'zod';

/** An app's name as artifacts know it (the pipelines module uses the same rule). */
export const AppName = z
  .string()
  .min(2, 'use at least 2 characters')
  .max(63, 'use at most 63 characters')
  .regex(/^[a-z][a-z0-9-]*$/, 'use lowercase letters, digits and "-", starting with a letter');

/** A channel: an environment's name (the same rule as environment names in scopes). */
export const ChannelName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z][a-z0-9-]*$/, 'use lowercase letters, digits and "-", starting with a letter');

/** A Debian version without an epoch: what Slipway builds and stores. */
export const DebianVersion = z
  .string()
  .min(1)
  .max(128)
  .regex(
    /^[0-9][A-Za-z0-9.+~-]*$/,
    'use a Debian version: a digit first, then letters, digits and ". + ~ -", like "1.2.0~b7+g1a2b3c4d5e6f"',
  );

/** A SHA-256 digest in lowercase hexadecimal. */
export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'use 64 lowercase hexadecimal digits');

/** Where a build came from: recorded with every artifact Slipway builds. */
export const BuildMetadata = z.object({
  commit: z.string().optional(),
  branch: z.string().optional(),
  run: z.string().optional(),
  runNumber: z.number().int().optional(),
  buildTime: z.string().optional(),
  builder: z.string().optional(),
});
export type BuildMetadata = z.infer<typeof BuildMetadata>;

/** One stored artifact version, as the API shows it. */
export const Artifact = z.object({
  id: z.string(),
  app: z.string(),
  package: z.string(),
  version: z.string(),
  architecture: z.string(),
  sha256: z.string(),
  size: z.number().int(),
  filename: z.string(),
  metadata: BuildMetadata,
  channels: z.array(z.string()),
  deployedTo: z.array(z.string()),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
});
export type Artifact = z.infer<typeof Artifact>;

/** An artifact with its control fields, for `artifacts show`. */
export const ArtifactDetails = Artifact.extend({
  control: z.record(z.string(), z.string()),
});
export type ArtifactDetails = z.infer<typeof ArtifactDetails>;

/** A channel and what it holds. */
export const Channel = z.object({
  name: z.string(),
  revision: z.number().int(),
  artifacts: z.number().int(),
  updatedAt: z.string().nullable(),
  sourcesLine: z.string(),
});
export type Channel = z.infer<typeof Channel>;

/** What an upload or a publish did. */
export const UploadResult = z.object({
  artifact: Artifact,
  /** False when the same file was already stored under this version (an idempotent repeat). */
  created: z.boolean(),
});
export type UploadResult = z.infer<typeof UploadResult>;

// ---- Tables ----------------------------------------------------------------------------------

export interface ArtifactsTable {
  id: string;
  app: string;
  package: string;
  version: string;
  architecture: string;
  sha256: string;
  size: string | number;
  filename: string;
  /** The .deb's control stanza (DEBIAN/control), as dpkg-deb prints it. */
  control: string;
  metadata: BuildMetadata;
  created_at: Generated<Date>;
  created_by: string | null;
}

export interface ArtifactChannelEntriesTable {
  channel: string;
  artifact_id: string;
  promoted_at: Generated<Date>;
  promoted_by: string | null;
}

export interface ArtifactChannelsTable {
  name: string;
  revision: Generated<string | number>;
  updated_at: Generated<Date>;
}

export interface ArtifactAptIndexesTable {
  channel: string;
  revision: string | number;
  packages: Buffer;
  packages_gz: Buffer;
  release: Buffer;
  in_release: Buffer;
  release_gpg: Buffer;
  created_at: Generated<Date>;
}

export interface ArtifactDeploymentsTable {
  artifact_id: string;
  environment: string;
  deployed_at: Generated<Date>;
}

export interface ArtifactSigningKeysTable {
  /** Always 1: one key per database. */
  id: number;
  /** The private key, sealed by the secret store's envelope encryption. */
  sealed: string;
  created_at: Generated<Date>;
}

/** The artifacts module's tables. */
export interface ArtifactTables {
  artifact_signing_keys: ArtifactSigningKeysTable;
  artifacts: ArtifactsTable;
  artifact_channel_entries: ArtifactChannelEntriesTable;
  artifact_channels: ArtifactChannelsTable;
  artifact_apt_indexes: ArtifactAptIndexesTable;
  artifact_deployments: ArtifactDeploymentsTable;
}
