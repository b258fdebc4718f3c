import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Clock } from '../core/index.ts';
import { type AptIndex, buildAptIndex, sha256Of } from './apt-index.ts';
import { ChannelNotFoundError } from './errors.ts';
import type { ArtifactTables, Channel } from './schema.ts';
import type { SigningKey } from './signing-key.ts';

type Db = Kysely<ArtifactTables>;

/** Index files of a channel apt asks for. */
export type AptIndexFile = 'Release' | 'InRelease' | 'Release.gpg' | 'Packages' | 'Packages.gz';

/** Index revisions kept per channel, so apt fetching by hash during a promotion still finds its files. */
const KEPT_INDEX_REVISIONS = 5;

/**
 * The channels' APT indexes: each change of a channel (a promotion) builds and signs a new revision
 * of its Packages and Release files, stored in PostgreSQL (so every control plane serves the same
 * bytes); the last few revisions stay for apt clients fetching by hash in the middle of a change.
 */
export class AptChannels {
  readonly #db: Db;
  readonly #key: SigningKey;
  readonly #clock: Clock;
  readonly #indexCache = new Map<string, AptIndex & { hashes: Map<string, Buffer> }>();

  constructor(options: { readonly db: Kysely<any>; readonly key: SigningKey; readonly clock: Clock }) {
    this.#db = options.db as Db;
    this.#key = options.key;
    this.#clock = options.clock;
  }

  /** Builds, signs and stores a new index revision of a channel; returns its number. */
  async reindex(trx: Kysely<any>, channel: string): Promise<number> {
    const { revision } = await (trx as Db)
      .updateTable('artifact_channels')
      .set({ revision: sql`revision + 1`, updated_at: this.#clock.now() })
      .where('name', '=', channel)
      .returning('revision')
      .executeTakeFirstOrThrow();
    const entries = await (trx as Db)
      .selectFrom('artifact_channel_entries as e')
      .innerJoin('artifacts as a', 'a.id', 'e.artifact_id')
      .select(['a.control', 'a.package', 'a.filename', 'a.size', 'a.sha256'])
      .where('e.channel', '=', channel)
      .orderBy('a.package')
      .orderBy('a.created_at')
      .execute();
    const index = await buildAptIndex(
      channel,
      entries.map((e) => ({
        control: e.control,
        packageName: e.package,
        filename: e.filename,
        size: Number(e.size),
        sha256: e.sha256,
      })),
      { key: this.#key, now: this.#clock.now() },
    );
    await (trx as Db)
      .insertInto('artifact_apt_indexes')
      .values({
        channel,
        revision,
        packages: index.packages,
        packages_gz: index.packagesGz,
        release: index.release,
        in_release: index.inRelease,
        release_gpg: index.releaseGpg,
      })
      .execute();
    await (trx as Db)
      .deleteFrom('artifact_apt_indexes')
      .where('channel', '=', channel)
      .where('revision', '<=', Number(revision) - KEPT_INDEX_REVISIONS)
      .execute();
    return Number(revision);
  }

  /** Every channel with its revision and size. */
  async channels(db: Kysely<any> = this.#db): Promise<Omit<Channel, 'sourcesLine'>[]> {
    const rows = await (db as Db)
      .selectFrom('artifact_channels as c')
      .select([
        'c.name',
        'c.revision',
        'c.updated_at',
        sql<string>`(SELECT count(*) FROM artifact_channel_entries e WHERE e.channel = c.name)`.as('count'),
      ])
      .orderBy('c.name')
      .execute();
    return rows.map((row) => ({
      name: row.name,
      revision: Number(row.revision),
      artifacts: Number(row.count),
      updatedAt: row.updated_at.toISOString(),
    }));
  }

  async #latestIndex(channel: string): Promise<(AptIndex & { hashes: Map<string, Buffer> })[]> {
    const revisions = await this.#db
      .selectFrom('artifact_apt_indexes')
      .select('revision')
      .where('channel', '=', channel)
      .orderBy('revision', 'desc')
      .execute();
    if (revisions.length === 0) throw new ChannelNotFoundError(channel);
    const indexes: (AptIndex & { hashes: Map<string, Buffer> })[] = [];
    for (const { revision } of revisions) {
      const key = `${channel}:${revision}`;
      let cached = this.#indexCache.get(key);
      if (!cached) {
        const row = await this.#db
          .selectFrom('artifact_apt_indexes')
          .selectAll()
          .where('channel', '=', channel)
          .where('revision', '=', revision)
          .executeTakeFirst();
        if (!row) continue;
        const index: AptIndex = {
          packages: row.packages,
          packagesGz: row.packages_gz,
          release: row.release,
          inRelease: row.in_release,
          releaseGpg: row.release_gpg,
        };
        cached = {
          ...index,
          hashes: new Map([
            [sha256Of(index.packages), index.packages],
            [sha256Of(index.packagesGz), index.packagesGz],
          ]),
        };
        this.#indexCache.set(key, cached);
        // Only a few revisions per channel are ever asked for: keep the cache small.
        if (this.#indexCache.size > 64) this.#indexCache.delete(this.#indexCache.keys().next().value!);
      }
      indexes.push(cached);
    }
    return indexes;
  }

  /**
   * A file of the channel's current signed index.
   * @throws ChannelNotFoundError
   */
  async file(channel: string, file: AptIndexFile): Promise<Buffer> {
    const [latest] = await this.#latestIndex(channel);
    if (!latest) throw new ChannelNotFoundError(channel);
    switch (file) {
      case 'Release':
        return latest.release;
      case 'InRelease':
        return latest.inRelease;
      case 'Release.gpg':
        return latest.releaseGpg;
      case 'Packages':
        return latest.packages;
      case 'Packages.gz':
        return latest.packagesGz;
    }
  }

  /** An index file by its SHA-256 (apt's by-hash), from any kept revision; undefined when unknown. */
  async byHash(channel: string, sha256: string): Promise<Buffer | undefined> {
    for (const index of await this.#latestIndex(channel)) {
      const data = index.hashes.get(sha256);
      if (data) return data;
    }
    return undefined;
  }
}
