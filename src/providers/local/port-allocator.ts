import { createServer } from 'node:net';
import type { Kysely } from 'kysely';
import { UnavailableError } from '../../core/index.ts';

/** The ports the local provider hands out, from SLIPWAY_LOCAL_PORTS ("20000-29999"). */
export function localPortRange(env: NodeJS.ProcessEnv = process.env): { first: number; last: number } {
  const match = /^(\d+)-(\d+)$/.exec(env.SLIPWAY_LOCAL_PORTS ?? '20000-29999');
  const first = Number(match?.[1] ?? 20000);
  const last = Number(match?.[2] ?? 29999);
  return first >= 1024 && last <= 65_535 && first < last ? { first, last } : { first: 20000, last: 29999 };
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Ports on 127.0.0.1 for the local provider, one per (environment, owner), kept in the database so
 * an environment gets the same ports after a restart and two environments never share one.
 */
export class PortAllocator {
  readonly #range: { first: number; last: number };

  constructor(range = localPortRange()) {
    this.#range = range;
  }

  /** The port of `owner` ("lb:80", "host:web-1:web", "database") in the environment, allocated once. */
  async allocate(db: Kysely<any>, environment: string, owner: string): Promise<number> {
    const existing = await db
      .selectFrom('local_provider_ports')
      .select('port')
      .where('environment', '=', environment)
      .where('owner', '=', owner)
      .executeTakeFirst();
    if (existing) return existing.port as number;
    const size = this.#range.last - this.#range.first + 1;
    const start = Math.floor(Math.random() * size);
    for (let i = 0; i < size; i++) {
      const port = this.#range.first + ((start + i) % size);
      const taken = await db
        .selectFrom('local_provider_ports')
        .select('port')
        .where('port', '=', port)
        .executeTakeFirst();
      if (taken || !(await canBind(port))) continue;
      const inserted = await db
        .insertInto('local_provider_ports')
        .values({ port, environment, owner })
        .onConflict((oc) => oc.doNothing())
        .returning('port')
        .executeTakeFirst();
      if (inserted) return port;
      const mine = await db
        .selectFrom('local_provider_ports')
        .select('port')
        .where('environment', '=', environment)
        .where('owner', '=', owner)
        .executeTakeFirst();
      if (mine) return mine.port as number; // another apply of the same environment got there first
    }
    throw new UnavailableError(
      `Cannot allocate a port for "${owner}" in "${environment}": every port in the range is taken`,
      {
        hint: `Widen SLIPWAY_LOCAL_PORTS (now ${this.#range.first}-${this.#range.last}) or destroy environments you no longer need`,
        retryable: false,
      },
    );
  }

  /** The ports an environment holds, by owner. */
  async ports(db: Kysely<any>, environment: string): Promise<Map<string, number>> {
    const rows = await db
      .selectFrom('local_provider_ports')
      .select(['owner', 'port'])
      .where('environment', '=', environment)
      .execute();
    return new Map(rows.map((r) => [r.owner as string, r.port as number]));
  }

  /** Gives back the ports of owners starting with `prefix` (all of the environment's without one). */
  async release(db: Kysely<any>, environment: string, prefix = ''): Promise<void> {
    let query = db.deleteFrom('local_provider_ports').where('environment', '=', environment);
    if (prefix) query = query.where('owner', 'like', `${prefix.replace(/[%_\\]/g, '\\$&')}%`);
    await query.execute();
  }
}
