import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ApplierEvent } from './applier.ts';
import { tablesByName } from './catalog.ts';
import { installLink } from './link-setup.ts';
import { setDesiredState } from './replica.ts';
import {
  createSaasSchema,
  type ReplicationPair,
  runSql,
  SAAS_TABLES,
  startApplier,
  startReplicationPair,
  waitForCatchUp,
} from './testing.ts';
import { compareTables } from './verify.ts';

let pair: ReplicationPair;
beforeAll(async () => {
  pair = await startReplicationPair();
  await createSaasSchema(pair);
});
afterAll(async () => {
  await pair?.stop();
});

async function compare(): Promise<Awaited<ReturnType<typeof compareTables>>> {
  const source = new pg.Client({ connectionString: pair.source.url });
  const target = new pg.Client({ connectionString: pair.target.url });
  await Promise.all([source.connect(), target.connect()]);
  try {
    const tables = [...(await tablesByName(source, SAAS_TABLES)).values()];
    return await compareTables(source, target, tables, { chunkRows: 50 });
  } finally {
    await Promise.all([source.end(), target.end()]);
  }
}

describe('engine: capture, copy and apply', () => {
  test('copies existing rows, then follows inserts, updates, key updates, deletes and TRUNCATE', async () => {
    await runSql(
      pair.source.url,
      `INSERT INTO organisations (name, balance) SELECT 'org-' || i, i * 1.5 FROM generate_series(1, 20) i;
       INSERT INTO users (organisation_id, email, tags, avatar, score, last_seen, born)
         SELECT 1 + i % 20, 'u' || i || '@example.com', ARRAY['a', 'b"c', NULL], '\\x00ff'::bytea, i / 3.0, now(), '2000-01-01'
         FROM generate_series(1, 200) i;
       INSERT INTO events (user_id, kind, payload, amounts) SELECT 1 + i % 200, 'k', jsonb_build_object('i', i, 's', E'tab\\tnew\\nline ''q'' \\\\'), ARRAY[1.10, NULL]
         FROM generate_series(1, 1000) i;
       INSERT INTO settings VALUES (1, 'theme', '"dark"'), (2, 'theme', NULL);`,
    );
    await installLink('demo', { source: pair.source.url, target: pair.target.url }, { schema: 'public' });
    const applier = startApplier('demo', pair);
    try {
      await waitForCatchUp('demo', pair);
      expect((await compare()).identical).toBe(true);

      await runSql(
        pair.source.url,
        `BEGIN;
         UPDATE users SET display_name = E'Zoë \\u2603 "quoted"', score = 'NaN' WHERE id % 7 = 0;
         UPDATE organisations SET id = id + 1000 WHERE id = 3;
         DELETE FROM events WHERE id % 10 = 0;
         INSERT INTO events (id, user_id, kind) VALUES (10, NULL, 'reinserted');
         UPDATE settings SET key = 'colour' WHERE organisation_id = 1;
         COMMIT;
         TRUNCATE settings;
         INSERT INTO settings VALUES (5, 'after-truncate', '{"a": [1, 2]}');
         SELECT setval('events_id_seq', 5000);`,
      );
      await waitForCatchUp('demo', pair);
      const result = await compare();
      expect(result.tables.filter((t) => !t.identical)).toStrictEqual([]);
      const [sequence] = await runSql<{ last_value: string }>(
        pair.target.url,
        'SELECT last_value::text FROM events_id_seq',
      );
      expect(sequence!.last_value).toBe('5000');
      // Once applied, the capture log empties: the applier switches generations and truncates the idle one.
      const logRows = async () => {
        const tables = await runSql<{ t: string }>(
          pair.source.url,
          `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname = '_slipway_demo' AND tablename LIKE 'log\\_%'`,
        );
        const counts = await Promise.all(
          tables.map(
            async ({ t }) =>
              (await runSql<{ n: number }>(pair.source.url, `SELECT count(*)::int AS n FROM ${t}`))[0]!.n,
          ),
        );
        return { tables: tables.length, rows: counts.reduce((a, b) => a + b, 0) };
      };
      expect((await logRows()).rows).toBeGreaterThan(0);
      const deadline = Date.now() + 20_000;
      while ((await logRows()).rows > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 200));
      expect(await logRows()).toStrictEqual({ tables: 8, rows: 0 });
    } finally {
      await applier.stop();
    }
  });

  test('once a stop is recorded no batch commits, even before the applier reads its control state', async () => {
    const events: ApplierEvent[] = [];
    // The applier reads its control state only once a minute here: the stop must hold all the same.
    const applier = startApplier('demo', pair, { controlMs: 60_000, events });
    try {
      await runSql(pair.source.url, `UPDATE organisations SET name = 'before stop' WHERE id = 1`);
      await waitForCatchUp('demo', pair);
      const target = new pg.Client({ connectionString: pair.target.url });
      await target.connect();
      try {
        await setDesiredState(target, 'demo', 'stopped');
      } finally {
        await target.end();
      }
      await runSql(pair.source.url, `UPDATE organisations SET name = 'after stop' WHERE id = 1`);
      const deadline = Date.now() + 10_000;
      while (!events.some((e) => e.kind === 'stopped') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(events.some((e) => e.kind === 'stopped')).toBe(true);
      await new Promise((r) => setTimeout(r, 500));
      const [row] = await runSql<{ name: string }>(
        pair.target.url,
        'SELECT name FROM organisations WHERE id = 1',
      );
      expect(row!.name).toBe('before stop');
    } finally {
      await applier.stop();
    }
  });
});
