import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { type Kysely, sql } from 'kysely';
import { type Clock, type Logger, newId, SYSTEM_CLOCK } from '../core/index.ts';
import { inTransaction } from '../store/index.ts';
import { AptChannels } from './apt-channels.ts';
import { poolPath } from './apt-index.ts';
import { BlobStore, type StagedBlob } from './blob-store.ts';
import { debFilename, parseControl, readDebControl } from './deb-control.ts';
import {
  ArtifactNotFoundError,
  ArtifactVersionConflictError,
  PackageOwnedByOtherAppError,
} from './errors.ts';
import type { Artifact, ArtifactDetails, ArtifactTables, BuildMetadata, UploadResult } from './schema.ts';
import { SigningKey, type SigningKeyEnvelope } from './signing-key.ts';

type Db = Kysely<ArtifactTables>;

/** How a repository is set up. */
export interface ArtifactRepositoryOptions {
  readonly db: Kysely<any>;
  /** Where files live: blobs/sha256/…, tmp/ and the signing key. */
  readonly dir: string;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** The largest artifact accepted. @default 4 GiB */
  readonly maxArtifactBytes?: number;
  /** Seals the signing key at rest (the secrets module's envelope encryption). */
  readonly keyEnvelope?: SigningKeyEnvelope;
}

/** What to store and what the sender promised about it. */
export interface StoreArtifactOptions {
  readonly app: string;
  readonly actor?: string;
  readonly metadata?: BuildMetadata;
  readonly expectedSize?: number;
  readonly expectedSha256?: string;
  /** A transaction to write in (the caller's audit entry commits with it). */
  readonly db?: Kysely<any>;
}

/** Which artifacts to list. */
export interface ArtifactFilter {
  readonly app?: string;
  readonly channel?: string;
  /** Matches the version, the package name or the commit (a prefix of it). */
  readonly search?: string;
  /** @default 100 */
  readonly limit?: number;
}

/** A file to send, with what a download answer needs. */
export interface ArtifactFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly filename: string;
}

const DEFAULT_MAX_ARTIFACT_BYTES = 4 * 1024 ** 3;

type ArtifactRow = ArtifactTables['artifacts'] & {
  created_at: Date;
  channels: string[] | null;
  deployed_to: string[] | null;
};

function toArtifact(row: ArtifactRow): Artifact {
  return {
    id: row.id,
    app: row.app,
    package: row.package,
    version: row.version,
    architecture: row.architecture,
    sha256: row.sha256,
    size: Number(row.size),
    filename: row.filename,
    metadata: row.metadata ?? {},
    channels: row.channels ?? [],
    deployedTo: row.deployed_to ?? [],
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
  };
}

function withTransaction<T>(db: Kysely<any>, work: (trx: Kysely<any>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db) : inTransaction(db, work);
}

/** Serialises work on one blob digest across control planes until the transaction ends. */
async function lockDigest(trx: Kysely<any>, sha256: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtext(${`slipway.blob.${sha256}`}))`.execute(trx);
}

/**
 * The artifact repository: immutable, content-addressed .deb versions per app, channels that
 * environments install from, and a signed APT index per channel.
 */
export class ArtifactRepository {
  readonly blobs: BlobStore;
  readonly key: SigningKey;
  /** The channels' signed APT indexes. */
  readonly apt: AptChannels;
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #logger?: Logger;
  readonly #maxBytes: number;

  constructor(options: ArtifactRepositoryOptions) {
    const dir = resolve(options.dir);
    this.blobs = new BlobStore(dir);
    this.key = new SigningKey(join(dir, 'signing-key.asc'), {
      ...(options.keyEnvelope ? { envelope: options.keyEnvelope } : {}),
      db: options.db,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.#db = options.db as Db;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#logger = options.logger;
    this.#maxBytes = options.maxArtifactBytes ?? DEFAULT_MAX_ARTIFACT_BYTES;
    this.apt = new AptChannels({ db: this.#db, key: this.key, clock: this.#clock });
  }

  /** The largest artifact accepted, in bytes. */
  get maxArtifactBytes(): number {
    return this.#maxBytes;
  }

  /**
   * Stores a .deb streamed from `source` under its own version. The same file again is a no-op
   * (`created: false`); another file under a stored version is refused. Nothing is visible until the
   * file arrived whole, matched what was announced, and its row committed.
   * @throws UploadRejectedError, NotADebianPackageError, ArtifactVersionConflictError, PackageOwnedByOtherAppError
   */
  async store(source: Readable, options: StoreArtifactOptions): Promise<UploadResult> {
    const staged = await this.blobs.stage(source, {
      maxBytes: this.#maxBytes,
      ...(options.expectedSize !== undefined ? { expectedSize: options.expectedSize } : {}),
      ...(options.expectedSha256 !== undefined ? { expectedSha256: options.expectedSha256 } : {}),
    });
    try {
      return await this.#register(staged, options);
    } finally {
      await this.blobs.discard(staged);
    }
  }

  /** Stores a local .deb file (a build's output). */
  async storeFile(path: string, options: Omit<StoreArtifactOptions, 'expectedSize'>): Promise<UploadResult> {
    const staged = await this.blobs.stageFile(path, {
      maxBytes: this.#maxBytes,
      ...(options.expectedSha256 !== undefined ? { expectedSha256: options.expectedSha256 } : {}),
    });
    try {
      return await this.#register(staged, options);
    } finally {
      await this.blobs.discard(staged);
    }
  }

  async #register(staged: StagedBlob, options: StoreArtifactOptions): Promise<UploadResult> {
    const control = await readDebControl(staged.path);
    const packageName = control.fields.Package!;
    const version = control.fields.Version!;
    const architecture = control.fields.Architecture!;
    return withTransaction(options.db ?? this.#db, async (trx) => {
      const existing = await this.#find(trx, options.app, version);
      if (existing) {
        if (existing.sha256 !== staged.sha256) {
          throw new ArtifactVersionConflictError(options.app, version, existing.sha256, staged.sha256);
        }
        return { artifact: existing, created: false };
      }
      const owner = await trx
        .selectFrom('artifacts')
        .select('app')
        .where('package', '=', packageName)
        .where('app', '<>', options.app)
        .limit(1)
        .executeTakeFirst();
      if (owner) throw new PackageOwnedByOtherAppError(packageName, owner.app, options.app);
      await lockDigest(trx, staged.sha256);
      await this.blobs.commit(staged);
      const id = newId();
      const inserted = await trx
        .insertInto('artifacts')
        .values({
          id,
          app: options.app,
          package: packageName,
          version,
          architecture,
          sha256: staged.sha256,
          size: staged.size,
          filename: debFilename(packageName, version, architecture),
          control: control.text,
          metadata: JSON.stringify(options.metadata ?? {}) as unknown as BuildMetadata,
          created_at: this.#clock.now(),
          created_by: options.actor ?? null,
        })
        .onConflict((oc) => oc.columns(['app', 'version']).doNothing())
        .returning('id')
        .executeTakeFirst();
      const stored = await this.#find(trx, options.app, version);
      if (!stored) throw new Error(`artifact ${options.app} ${version} vanished while being stored`);
      if (!inserted) {
        // Another upload of this version committed first: the same rule as above applies.
        if (stored.sha256 !== staged.sha256) {
          throw new ArtifactVersionConflictError(options.app, version, stored.sha256, staged.sha256);
        }
        return { artifact: stored, created: false };
      }
      this.#logger?.info(
        { app: options.app, version, sha256: staged.sha256, size: staged.size },
        'artifact stored',
      );
      return { artifact: stored, created: true };
    });
  }

  #select(db: Db) {
    return db
      .selectFrom('artifacts as a')
      .selectAll('a')
      .select([
        sql<
          string[]
        >`(SELECT array_agg(e.channel ORDER BY e.channel) FROM artifact_channel_entries e WHERE e.artifact_id = a.id)`.as(
          'channels',
        ),
        sql<
          string[]
        >`(SELECT array_agg(d.environment ORDER BY d.environment) FROM artifact_deployments d WHERE d.artifact_id = a.id)`.as(
          'deployed_to',
        ),
      ]);
  }

  async #find(db: Db, app: string, version: string): Promise<Artifact | undefined> {
    const row = await this.#select(db)
      .where('a.app', '=', app)
      .where('a.version', '=', version)
      .executeTakeFirst();
    return row ? toArtifact(row as unknown as ArtifactRow) : undefined;
  }

  /** Lists artifacts, newest first. */
  async list(filter: ArtifactFilter = {}, db: Kysely<any> = this.#db): Promise<Artifact[]> {
    let query = this.#select(db as Db);
    if (filter.app) query = query.where('a.app', '=', filter.app);
    if (filter.channel) {
      const channel = filter.channel;
      query = query.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('artifact_channel_entries as e')
            .select('e.artifact_id')
            .whereRef('e.artifact_id', '=', 'a.id')
            .where('e.channel', '=', channel),
        ),
      );
    }
    if (filter.search) {
      const like = `%${filter.search.replace(/[\\%_]/g, '\\$&')}%`;
      const prefix = `${filter.search.replace(/[\\%_]/g, '\\$&')}%`;
      query = query.where((eb) =>
        eb.or([
          eb('a.version', 'ilike', like),
          eb('a.package', 'ilike', like),
          eb(sql`a.metadata->>'commit'`, 'like', prefix),
        ]),
      );
    }
    const rows = await query
      .orderBy('a.created_at', 'desc')
      .orderBy('a.id')
      .limit(filter.limit ?? 100)
      .execute();
    return rows.map((row) => toArtifact(row as unknown as ArtifactRow));
  }

  /**
   * One version with its control fields.
   * @throws ArtifactNotFoundError
   */
  async get(app: string, version: string, db: Kysely<any> = this.#db): Promise<ArtifactDetails> {
    const row = await this.#select(db as Db)
      .where('a.app', '=', app)
      .where('a.version', '=', version)
      .executeTakeFirst();
    if (!row) throw new ArtifactNotFoundError(app, version);
    return { ...toArtifact(row as unknown as ArtifactRow), control: parseControl(row.control).fields };
  }

  /**
   * The stored file of a version.
   * @throws ArtifactNotFoundError
   */
  async file(app: string, version: string): Promise<ArtifactFile> {
    const artifact = await this.get(app, version);
    return this.#fileOf(artifact);
  }

  async #fileOf(artifact: { sha256: string; filename: string; size: number }): Promise<ArtifactFile> {
    const path = this.blobs.pathOf(artifact.sha256);
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new Error(`the blob of ${artifact.filename} (${artifact.sha256}) is missing`);
    return { path, size: info.size, sha256: artifact.sha256, filename: artifact.filename };
  }

  /**
   * Adds a version to a channel and re-signs the channel's index, in one transaction. Promoting a
   * version the channel holds already changes nothing.
   * @throws ArtifactNotFoundError
   */
  async promote(
    input: {
      readonly app: string;
      readonly version: string;
      readonly channel: string;
      readonly actor?: string;
    },
    db: Kysely<any> = this.#db,
  ): Promise<{ artifact: Artifact; revision: number; alreadyPromoted: boolean }> {
    return withTransaction(db, async (trx) => {
      const artifact = await this.get(input.app, input.version, trx);
      await trx
        .insertInto('artifact_channels')
        .values({ name: input.channel })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
      // Locks the channel's row: promotions to one channel index one after another.
      const channel = await trx
        .selectFrom('artifact_channels')
        .select('revision')
        .where('name', '=', input.channel)
        .forUpdate()
        .executeTakeFirstOrThrow();
      const added = await trx
        .insertInto('artifact_channel_entries')
        .values({ channel: input.channel, artifact_id: artifact.id, promoted_by: input.actor ?? null })
        .onConflict((oc) => oc.columns(['channel', 'artifact_id']).doNothing())
        .returning('artifact_id')
        .executeTakeFirst();
      if (!added) {
        return { artifact, revision: Number(channel.revision), alreadyPromoted: true };
      }
      const revision = await this.apt.reindex(trx, input.channel);
      return {
        artifact: await this.get(input.app, input.version, trx),
        revision,
        alreadyPromoted: false,
      };
    });
  }

  /** The file behind a pool path of a channel, only when the channel holds it; undefined otherwise. */
  async poolFile(channel: string, path: string): Promise<ArtifactFile | undefined> {
    const filename = path.split('/').at(-1) ?? '';
    const rows = await this.#db
      .selectFrom('artifact_channel_entries as e')
      .innerJoin('artifacts as a', 'a.id', 'e.artifact_id')
      .select(['a.package', 'a.filename', 'a.sha256', 'a.size'])
      .where('e.channel', '=', channel)
      .where('a.filename', '=', filename)
      .execute();
    const row = rows.find((r) => poolPath(channel, r.package, r.filename) === path);
    return row
      ? this.#fileOf({ sha256: row.sha256, filename: row.filename, size: Number(row.size) })
      : undefined;
  }

  /** Records that a version was deployed to an environment: retention keeps it from then on. */
  async markDeployed(
    input: { readonly app: string; readonly version: string; readonly environment: string },
    db: Kysely<any> = this.#db,
  ): Promise<void> {
    const artifact = await this.get(input.app, input.version, db);
    await (db as Db)
      .insertInto('artifact_deployments')
      .values({ artifact_id: artifact.id, environment: input.environment, deployed_at: this.#clock.now() })
      .onConflict((oc) =>
        oc.columns(['artifact_id', 'environment']).doUpdateSet({ deployed_at: this.#clock.now() }),
      )
      .execute();
  }

  /**
   * Applies the retention policy to one app: keeps its newest `keep` versions and every version that
   * is in a channel or was deployed; deletes the rest and their files. Returns the deleted versions.
   */
  async applyRetention(app: string, keep: number): Promise<string[]> {
    const deleted = await inTransaction(this.#db, async (trx) => {
      const { rows } = await sql<{ version: string; sha256: string }>`
        WITH ranked AS (
          SELECT id, row_number() OVER (ORDER BY created_at DESC, id) AS position
          FROM artifacts WHERE app = ${app}
        )
        DELETE FROM artifacts a USING ranked r
        WHERE a.id = r.id AND r.position > ${keep}
          AND NOT EXISTS (SELECT 1 FROM artifact_channel_entries e WHERE e.artifact_id = a.id)
          AND NOT EXISTS (SELECT 1 FROM artifact_deployments d WHERE d.artifact_id = a.id)
        RETURNING a.version, a.sha256`.execute(trx);
      return rows;
    });
    for (const { sha256 } of deleted) await this.#removeUnreferencedBlob(sha256);
    if (deleted.length > 0) {
      this.#logger?.info({ app, keep, deleted: deleted.map((d) => d.version) }, 'retention deleted versions');
    }
    return deleted.map((d) => d.version);
  }

  async #removeUnreferencedBlob(sha256: string): Promise<boolean> {
    return inTransaction(this.#db, async (trx) => {
      await lockDigest(trx, sha256);
      const used = await (trx as Db)
        .selectFrom('artifacts')
        .select('id')
        .where('sha256', '=', sha256)
        .limit(1)
        .executeTakeFirst();
      if (used) return false;
      await this.blobs.remove(sha256);
      return true;
    });
  }

  /**
   * Removes what crashes left behind: temporary files older than a day and stored files no version
   * refers to (older than an hour, so an upload between its rename and its commit is left alone).
   */
  async collectGarbage(): Promise<{ temporary: number; blobs: number }> {
    const now = this.#clock.now().getTime();
    const temporary = await this.blobs.sweepTemporary(24 * 3_600_000, now);
    let blobs = 0;
    for await (const sha256 of this.blobs.digests()) {
      const info = await stat(this.blobs.pathOf(sha256)).catch(() => undefined);
      if (!info || now - info.mtimeMs < 3_600_000) continue;
      if (await this.#removeUnreferencedBlob(sha256)) blobs += 1;
    }
    return { temporary, blobs };
  }
}
