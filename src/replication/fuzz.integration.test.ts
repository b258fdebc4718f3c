/**
 * Property: whatever mix of concurrent transactions runs on the source — inserts, updates, key
 * updates, deletes and re-inserts, TRUNCATE, swaps of unique values, small and large transactions,
 * commits and rollbacks, on several connections at once — once the applier has caught up, verify finds
 * both sides identical. REPLICATION_FUZZ_RUNS raises the number of generated workloads.
 */
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Applier } from './applier.ts';
import { requestFromApplier } from './applier.ts';
import { installLink } from './link-setup.ts';
import {
  type ReplicationPair,
  runSql,
  startApplier,
  startReplicationPair,
  waitForCatchUp,
} from './testing.ts';
import type { VerifyResult } from './verify.ts';

const RUNS = Number(process.env.REPLICATION_FUZZ_RUNS ?? 40);
const LINK = 'fuzz';

const SCHEMA = `
CREATE TABLE items (
  id integer PRIMARY KEY,
  grp integer NOT NULL DEFAULT 0,
  label text,
  amount numeric(14, 3),
  at timestamptz,
  doc jsonb,
  tags text[],
  blob bytea,
  ratio double precision,
  note text UNIQUE
);
CREATE TABLE pairs (a integer, b text, val integer, PRIMARY KEY (a, b));
CREATE TABLE entries (id bigserial PRIMARY KEY, item integer, msg text);
`;

// Text PostgreSQL can store: anything but NUL.
const text = fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => s.replaceAll('\0', ''));
const value = fc.record({
  label: fc.option(text, { nil: null }),
  amount: fc.option(
    fc.integer({ min: -10_000_000, max: 10_000_000 }).map((n) => (n / 1000).toFixed(3)),
    { nil: null },
  ),
  at: fc.option(
    fc.date({
      min: new Date('1970-01-01T00:00:00Z'),
      max: new Date('2100-01-01T00:00:00Z'),
      noInvalidDate: true,
    }),
    { nil: null },
  ),
  doc: fc.option(
    fc.jsonValue({ maxDepth: 2 }).map((j) => JSON.stringify(j).replaceAll('\\u0000', '')),
    {
      nil: null,
    },
  ),
  tags: fc.option(fc.array(fc.option(text, { nil: null }), { maxLength: 3 }), { nil: null }),
  blob: fc.option(
    fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)),
    { nil: null },
  ),
  ratio: fc.option(fc.oneof(fc.double({ noNaN: false }), fc.constant(0.1)), { nil: null }),
});

const id = fc.integer({ min: 1, max: 40 });
const op = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('insert' as const), id, value }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('update' as const), id, value }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('move' as const), id, by: fc.integer({ min: 1, max: 60 }) }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), id }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('insert-ignore' as const), id, value }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('bulk-ignore' as const), size: fc.constantFrom(300, 6_000) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reinsert' as const), id, value }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('swap-note' as const), a: id, b: id }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('bulk' as const),
      // Now and then big enough for the applier's hash-join path (5,000 changed keys or more).
      size: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 50, max: 800 }) },
        { weight: 1, arbitrary: fc.constant(6_000) },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('truncate' as const),
      table: fc.constantFrom('items', 'pairs'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('pair' as const),
      a: fc.integer({ min: 1, max: 6 }),
      b: fc.constantFrom('x', 'y', 'é', ' '),
      val: fc.integer(),
      remove: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('entry' as const), item: id, msg: text }) },
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

const transaction = fc.record({
  ops: fc.array(op, { minLength: 1, maxLength: 6 }),
  rollback: fc.boolean().map((b) => b && Math.random() < 0.3),
});
const workload = fc.array(fc.array(transaction, { minLength: 1, maxLength: 6 }), {
  minLength: 2,
  maxLength: 4,
});

async function runOp(client: pg.Client, o: Op): Promise<void> {
  switch (o.kind) {
    case 'insert':
    case 'update': {
      const v = o.value;
      const params = [o.id, v.label, v.amount, v.at, v.doc, v.tags, v.blob, v.ratio];
      if (o.kind === 'insert') {
        await client.query(
          `INSERT INTO items (id, label, amount, at, doc, tags, blob, ratio) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (id) DO UPDATE SET label = EXCLUDED.label, grp = items.grp + 1`,
          params,
        );
      } else {
        await client.query(
          `UPDATE items SET label = $2, amount = $3, at = $4, doc = $5, tags = $6, blob = $7, ratio = $8 WHERE id = $1`,
          params,
        );
      }
      return;
    }
    case 'insert-ignore':
      // On a key that exists, nothing changes; the capture still sees an attempted insert.
      await client.query('INSERT INTO items (id, label) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [
        o.id,
        o.value.label,
      ]);
      return;
    case 'bulk-ignore':
      await client.query(
        `INSERT INTO items (id, label) SELECT 1000 + i, 'ignored ' || i FROM generate_series(1, $1) i ON CONFLICT DO NOTHING`,
        [o.size],
      );
      return;
    case 'move':
      await client.query('UPDATE items SET id = id + $2 WHERE id = $1', [o.id, o.by]);
      return;
    case 'delete':
      await client.query('DELETE FROM items WHERE id = $1', [o.id]);
      return;
    case 'reinsert':
      await client.query('DELETE FROM items WHERE id = $1', [o.id]);
      await client.query('INSERT INTO items (id, label, doc) VALUES ($1, $2, $3)', [
        o.id,
        o.value.label,
        o.value.doc,
      ]);
      return;
    case 'swap-note': {
      // Two rows trade a unique value: the applier's merge collides and must fall back.
      const { rows } = await client.query<{ id: number; note: string | null }>(
        'SELECT id, note FROM items WHERE id IN ($1, $2) ORDER BY id FOR UPDATE',
        [o.a, o.b],
      );
      if (rows.length === 2) {
        await client.query('UPDATE items SET note = NULL WHERE id = $1', [rows[0]!.id]);
        await client.query('UPDATE items SET note = $2 WHERE id = $1', [
          rows[1]!.id,
          rows[0]!.note ?? `n${rows[0]!.id}`,
        ]);
        await client.query('UPDATE items SET note = $2 WHERE id = $1', [
          rows[0]!.id,
          rows[1]!.note ?? `m${rows[1]!.id}`,
        ]);
      }
      return;
    }
    case 'bulk':
      await client.query(
        `INSERT INTO items (id, grp, label, doc) SELECT 1000 + i, i % 7, 'bulk ' || i, jsonb_build_object('i', i)
           FROM generate_series(1, $1) i ON CONFLICT (id) DO UPDATE SET grp = items.grp + 1, doc = EXCLUDED.doc`,
        [o.size],
      );
      await client.query('UPDATE items SET amount = coalesce(amount, 0) + 1 WHERE id >= 1000 AND id % 3 = 0');
      return;
    case 'truncate':
      await client.query(`TRUNCATE ${o.table}`);
      return;
    case 'pair':
      if (o.remove) await client.query('DELETE FROM pairs WHERE a = $1 AND b = $2', [o.a, o.b]);
      else
        await client.query(
          'INSERT INTO pairs VALUES ($1, $2, $3) ON CONFLICT (a, b) DO UPDATE SET val = EXCLUDED.val',
          [o.a, o.b, o.val],
        );
      return;
    case 'entry':
      await client.query('INSERT INTO entries (item, msg) VALUES ($1, $2)', [o.item, o.msg]);
      return;
  }
}

async function runSession(url: string, transactions: { ops: Op[]; rollback: boolean }[]): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let committed = 0;
  try {
    await client.query("SET lock_timeout = '2s'; SET deadlock_timeout = '50ms'");
    for (const t of transactions) {
      await client.query('BEGIN');
      try {
        for (const o of t.ops) await runOp(client, o);
        await client.query(t.rollback ? 'ROLLBACK' : 'COMMIT');
        if (!t.rollback) committed += 1;
      } catch {
        // Conflicts between the sessions (unique keys, deadlocks, lock timeouts) abort the transaction.
        await client.query('ROLLBACK');
      }
    }
  } finally {
    await client.end();
  }
  return committed;
}

/** How the applier connects to the replica. */
const MODES = [
  {
    name: 'replica mode (the applier may set session_replication_role)',
    targetUrl: (pair: ReplicationPair) => pair.target.url,
  },
  {
    name: 'origin mode (an unprivileged applier role that owns the replica tables)',
    targetUrl: (pair: ReplicationPair) =>
      pair.target.url.replace(/\/\/[^@]+@/, '//replicator:replicator-password@'),
    prepare: async (pair: ReplicationPair) => {
      await runSql(
        pair.target.url,
        `CREATE ROLE replicator LOGIN PASSWORD 'replicator-password';
         GRANT CREATE ON DATABASE postgres TO replicator;
         ALTER TABLE items OWNER TO replicator; ALTER TABLE pairs OWNER TO replicator;
         ALTER TABLE entries OWNER TO replicator; ALTER SEQUENCE entries_id_seq OWNER TO replicator;`,
      );
    },
  },
];

for (const mode of MODES) {
  describe(`replication under random concurrent workloads: ${mode.name}`, () => {
    let pair: ReplicationPair;
    let applier: Applier;
    let target: pg.Client;
    let urls: { source: { url: string }; target: { url: string } };
    beforeAll(async () => {
      pair = await startReplicationPair();
      await Promise.all([runSql(pair.source.url, SCHEMA), runSql(pair.target.url, SCHEMA)]);
      await mode.prepare?.(pair);
      urls = { source: pair.source, target: { url: mode.targetUrl(pair) } };
      await installLink(LINK, { source: urls.source.url, target: urls.target.url }, { schema: 'public' });
      applier = startApplier(LINK, urls);
      target = new pg.Client({ connectionString: urls.target.url });
      await target.connect();
      await waitForCatchUp(LINK, urls);
    });
    afterAll(async () => {
      await target?.end();
      await applier?.stop();
      await pair?.stop();
    });

    test(
      'after catch-up, verify finds the sides identical every time',
      async () => {
        let committed = 0;
        await fc.assert(
          fc.asyncProperty(workload, async (sessions) => {
            const counts = await Promise.all(sessions.map((s) => runSession(pair.source.url, s)));
            committed += counts.reduce((a, b) => a + b, 0);
            await waitForCatchUp(LINK, urls, { timeoutMs: 60_000 });
            const { result, error } = await requestFromApplier<VerifyResult>(target, LINK, 'verify', {
              args: { chunkRows: 25 },
              timeoutMs: 60_000,
            });
            expect(error).toBeUndefined();
            expect(result!.tables.filter((t) => !t.identical)).toStrictEqual([]);
            expect(result!.identical).toBe(true);
            const [source] = await runSql<{ v: string }>(
              pair.source.url,
              'SELECT last_value::text AS v FROM entries_id_seq',
            );
            const [replica] = await runSql<{ v: string }>(
              pair.target.url,
              'SELECT last_value::text AS v FROM entries_id_seq',
            );
            expect(replica!.v).toBe(source!.v);
          }),
          { numRuns: RUNS, endOnFailure: true },
        );
        // The workloads did commit something (the property is not vacuous).
        expect(committed).toBeGreaterThan(RUNS);
      },
      RUNS * 30_000 + 60_000,
    );
  });
}
