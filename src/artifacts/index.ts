/** @module The artifact repository: immutable .deb versions, .deb building, versioning, channels and APT. */

export { AptChannels, type AptIndexFile } from './apt-channels.ts';
export {
  APT_ARCHITECTURE,
  APT_COMPONENT,
  type AptEntry,
  type AptIndex,
  buildAptIndex,
  buildPackages,
  buildRelease,
  poolPath,
} from './apt-index.ts';
export { BlobStore, type StagedBlob, type StageOptions } from './blob-store.ts';
export { type BuildDebOptions, buildDeb, PackageDefinition } from './deb-builder.ts';
export { type DebControl, debFilename, parseControl, readDebControl } from './deb-control.ts';
export {
  ArtifactNotFoundError,
  ArtifactVersionConflictError,
  ChannelNotFoundError,
  NotADebianPackageError,
  PackageOwnedByOtherAppError,
  UploadRejectedError,
} from './errors.ts';
export { artifactsMigrations } from './migrations.ts';
export {
  type ArtifactsModuleOptions,
  artifactsModule,
  type BackgroundService,
  openArtifactRepository,
  signingKeyEnvelope,
} from './module.ts';
export {
  type ArtifactFile,
  type ArtifactFilter,
  ArtifactRepository,
  type ArtifactRepositoryOptions,
  type StoreArtifactOptions,
} from './repository.ts';
export { type ArtifactRouteOptions, artifactRoutes, sourcesLine } from './routes.ts';
export {
  AppName,
  Artifact,
  ArtifactDetails,
  type ArtifactTables,
  BuildMetadata,
  Channel,
  ChannelName,
  DebianVersion,
  Sha256Hex,
  UploadResult,
} from './schema.ts';
export { type ByteRange, parseRange, sendFile } from './send-file.ts';
export { type PublicSigningKey, SigningKey, type SigningKeyEnvelope } from './signing-key.ts';
export {
  BASE_VERSION_PATTERN,
  buildVersion,
  compareDebianVersions,
  maxVersion,
  tryParseTagVersion,
} from './versioning.ts';
