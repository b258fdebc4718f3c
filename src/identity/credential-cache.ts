import pg from 'pg';
import type { Logger } from '../core/index.ts';
import { dedicatedClientConfig } from '../store/index.ts';
import type { CredentialRow } from './principal.ts';

/** The channel identity tables notify on every change that can affect a credential's meaning. */
export const IDENTITY_CHANNEL = 'slipway_identity';

/** Options for the credential cache. */
export interface CredentialCacheOptions {
  /** Longest time an entry is trusted even without a notification. @default 30 s */
  readonly ttlMs?: number;
  /** Most entries kept; the oldest go first. @default 10,000 */
  readonly maxEntries?: number;
  readonly logger?: Logger;
}

interface Entry {
  readonly row: CredentialRow;
  readonly loadedAt: number;
  lastUsedWrite: number;
}

/**
 * Caches resolved credentials (token or session → user, groups, grants) so an API call does not
 * query the database to authenticate. Every replica LISTENs on IDENTITY_CHANNEL; statement
 * triggers on the identity tables NOTIFY it on any change that matters (a revoked token, a disabled
 * user, a new role binding, …), and the whole cache is dropped. While the listening connection is
 * down nothing is cached, so a missed notification can never keep a revoked credential alive.
 * Expiry is still checked on every call against the cached expiry time.
 */
export class CredentialCache {
  readonly #pool: pg.Pool;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #logger?: Logger;
  readonly #entries = new Map<string, Entry>();
  #client: pg.Client | undefined;
  #listening = false;
  #stopped = false;
  #generation = 0;
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(pool: pg.Pool, options: CredentialCacheOptions = {}) {
    this.#pool = pool;
    this.#ttlMs = options.ttlMs ?? 30_000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#logger = options.logger;
  }

  /** Starts listening; until this succeeds the cache stays off. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#listen();
  }

  async #listen(): Promise<void> {
    try {
      // A connection of its own, not from the pool: it stays open for as long as the server runs.
      const client = new pg.Client(dedicatedClientConfig(this.#pool, 'slipway-identity-listener'));
      // Handlers first: an error while connecting or right after must never go unhandled.
      client.on('notification', () => this.clear());
      client.on('error', () => this.#lost());
      client.on('end', () => this.#lost());
      try {
        await client.connect();
        await client.query(`LISTEN ${IDENTITY_CHANNEL}`);
      } catch (error) {
        void client.end().catch(() => undefined);
        throw error;
      }
      this.#client = client;
      this.clear();
      this.#listening = true;
    } catch (error) {
      this.#logger?.warn(
        { err: error },
        'credential cache cannot listen; authenticating every call against the database',
      );
      this.#scheduleRetry();
    }
  }

  #lost(): void {
    if (!this.#listening) return;
    this.#listening = false;
    this.clear();
    void this.#client?.end().catch(() => undefined);
    this.#client = undefined;
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#stopped || this.#retryTimer) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#listen();
    }, 1000);
    this.#retryTimer.unref();
  }

  /** Whether entries are being cached (the listener is up). */
  get isActive(): boolean {
    return this.#listening;
  }

  /** Drops every entry. */
  clear(): void {
    this.#generation += 1;
    this.#entries.clear();
  }

  /** The cached credential, or the loader's answer (cached when found and the listener is up). */
  async load(
    key: string,
    loader: () => Promise<CredentialRow | undefined>,
    now: number,
  ): Promise<CredentialRow | undefined> {
    const hit = this.#entries.get(key);
    if (hit && this.#listening && now - hit.loadedAt < this.#ttlMs) return hit.row;
    const generation = this.#generation;
    const row = await loader();
    // A notification that arrived while loading may concern this very row: do not keep it.
    if (row && this.#listening && generation === this.#generation) {
      if (this.#entries.size >= this.#maxEntries) {
        const oldest = this.#entries.keys().next().value;
        if (oldest !== undefined) this.#entries.delete(oldest);
      }
      this.#entries.set(key, { row, loadedAt: now, lastUsedWrite: row.last_used_at?.getTime() ?? 0 });
    }
    return row;
  }

  /** Whether a "last used" write is due for a credential (at most once a minute), noting it if so. */
  dueForUseWrite(key: string, row: CredentialRow, now: number): boolean {
    const entry = this.#entries.get(key);
    const last = entry?.lastUsedWrite ?? row.last_used_at?.getTime() ?? 0;
    if (now - last < 60_000) return false;
    if (entry) entry.lastUsedWrite = now;
    return true;
  }

  /** Stops listening and empties the cache. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#listening = false;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.clear();
    if (this.#client) {
      await this.#client.query(`UNLISTEN ${IDENTITY_CHANNEL}`).catch(() => undefined);
      await this.#client.end().catch(() => undefined);
      this.#client = undefined;
    }
  }
}
