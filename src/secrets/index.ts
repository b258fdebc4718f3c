/**
 * @module Secrets: an audited, versioned, encrypted store of each environment's credentials.
 *
 * Values are encrypted with AES-256-GCM under a data key per environment (environment, name and
 * version bound as associated data); data keys are wrapped by the root key (a file, an environment
 * variable, or a cloud KMS behind `KeyManagementService`). Without the root key the store is sealed:
 * secret operations answer 503, everything else works. Every read, write, list and refusal is in the
 * audit log with a keyed HMAC of the value, never the value.
 *
 * For the modules that come next:
 * - Deployments: pin `currentSecretSetVersion(db, environment)` in a release (`pinSecretSet`), then at
 *   deploy time `resolveSecretSet(db, { vault, environment, setVersion, actor, purpose })` gives the
 *   decrypted name → value map (the caller has checked the user's deployer role). Render it with
 *   `renderLaravelEnv({ secrets, config })` and hand it to the agent over its authenticated channel;
 *   redact logs with `createRedactor(values)` or `redactorForEnvironment(db, { … })`.
 * - Agent: `writeEnvFileAtomically(path, text, { uid, gid })` writes the `.env` (0600, atomic), then
 *   run `LARAVEL_ENV_STEPS` in order (config:cache, then queue:restart) as the app user under umask
 *   077: the config cache holds the secrets too (test/secrets-laravel.test.ts does exactly this).
 * - Replication (and any module that must keep a credential at rest):
 *   `const cipher = createEnvelopeCipher(vault, 'replication')`; store `await cipher.seal(url, 'link:' + id)`
 *   in a text column; read it back with `await cipher.open(token, 'link:' + id)`. Root-key rotation
 *   covers these tokens; after `vault.rotateDataKey(db, 'module:replication')` move each with `reseal`.
 */

export {
  type DotenvEntry,
  type DotenvParseResult,
  dotenvRecord,
  parseDotenv,
  quoteDotenvValue,
  serializeDotenv,
} from './dotenv.ts';
export { type EnvFileOwner, writeEnvFileAtomically } from './env-file.ts';
export { createEnvelopeCipher, type EnvelopeCipher } from './envelope.ts';
export {
  DotenvParseError,
  EnvFileWriteError,
  InvalidRootKeyError,
  KeyUnwrapError,
  RootKeyMismatchError,
  SecretDeletedError,
  SecretNotDeletedError,
  SecretNotFoundError,
  SecretSetNotFoundError,
  SecretStoreSealedError,
  SecretVersionNotFoundError,
} from './errors.ts';
export {
  LARAVEL_ENV_STEPS,
  type LaravelEnvInput,
  type RenderLaravelEnvOptions,
  renderLaravelEnv,
} from './laravel-env.ts';
export { secretsMigrations } from './migrations.ts';
export { createRedactor, type Redactor, type RedactorOptions } from './redactor.ts';
export {
  type ResolvedSecretSet,
  type ResolveSecretSetOptions,
  redactorForEnvironment,
  resolveSecretSet,
} from './resolve-secret-set.ts';
export {
  generateRootKey,
  type KeyContext,
  type KeyManagementService,
  LocalRootKey,
  type RootKeySource,
} from './root-key.ts';
export { type SecretsRouteOptions, secretsRoutes } from './routes.ts';
export {
  SecretExport,
  SecretHistory,
  SecretImportResult,
  SecretMatrix,
  SecretName,
  SecretSetDetail,
  SecretSetVersionInfo,
  SecretStoreStatus,
  SecretSummary,
  type SecretsTables,
  SecretValue,
  SecretWriteResult,
} from './schema.ts';
export {
  type ChangeMeta,
  currentSecretSetVersion,
  deleteSecret,
  getSecretSet,
  importSecrets,
  listSecretSetVersions,
  listSecrets,
  pinSecretSet,
  readSecret,
  restoreSecret,
  rollbackSecret,
  type SecretWrite,
  secretHistory,
  setSecret,
  unpinSecretSet,
} from './secret-store.ts';
export { type RootKeyRotation, SecretVault, type SecretVaultOptions } from './secret-vault.ts';
