/**
 * Replication end to end: the built CLI against a started control plane, with two real PostgreSQL
 * clusters as source and replica.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createSaasSchema,
  type ReplicationPair,
  runSql,
  startReplicationPair,
} from '../src/replication/testing.ts';
import { generateRootKey } from '../src/secrets/index.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';
import { runCli } from './support/cli.ts';

let server: TestServer;
let pair: ReplicationPair;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-replication-cli-'));
  [server, pair] = await Promise.all([
    startTestServer({ rootKey: generateRootKey(), dataDir: join(dir, 'data') }),
    startReplicationPair(),
  ]);
  env = { SLIPWAY_URL: server.url, SLIPWAY_TOKEN: server.adminToken };
  await createSaasSchema(pair);
  await runSql(
    pair.source.url,
    `INSERT INTO organisations (name) SELECT 'org-' || i FROM generate_series(1, 30) i;
     INSERT INTO users (organisation_id, email, tags) SELECT 1 + i % 30, 'u' || i || '@example.com', ARRAY['x']
       FROM generate_series(1, 300) i;
     INSERT INTO events (user_id, kind, payload) SELECT 1 + i % 300, 'seed', jsonb_build_object('i', i)
       FROM generate_series(1, 3000) i;`,
  );
});
afterAll(async () => {
  await server?.stop();
  await pair?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function cli(args: string[], options: { input?: string } = {}) {
  const result = await runCli(args, { env, timeoutMs: 120_000, ...options });
  // A connection string (with its password) must never be printed, whatever happens.
  for (const secret of [pair.source.password, pair.target.password]) {
    expect(result.stdout).not.toContain(secret);
    expect(result.stderr).not.toContain(secret);
  }
  return result;
}

async function status(): Promise<any> {
  const result = await cli(['replication', 'status', 'demo', '--json']);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout);
}

async function waitFor(what: string, check: (link: any) => boolean, timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let link: any;
  while (Date.now() < deadline) {
    link = await status();
    if (check(link)) return link;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(link?.status ?? link)}`);
}

async function caughtUp(): Promise<void> {
  await waitFor('catch-up', (l) => l.status?.pendingChanges === 0 && l.health === 'replicating');
}

describe('slipway replication (CLI end to end)', () => {
  test('create copies the tables with progress, follows changes, and verify finds the replica identical', async () => {
    const sourceFile = join(dir, 'source.dsn');
    await writeFile(sourceFile, pair.source.url, { mode: 0o600 });
    const created = await cli([
      'replication',
      'create',
      'demo',
      '--source-file',
      sourceFile,
      '--target',
      pair.target.url,
      '--schema',
      'public',
      '--lag-alert',
      '30s',
      '--wait',
    ]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('Created replication link "demo" with 4 tables');
    expect(created.stdout).toContain('Copied 4 tables; replicating');

    await runSql(
      pair.source.url,
      `UPDATE users SET display_name = 'changed' WHERE id % 3 = 0;
       DELETE FROM events WHERE id % 5 = 0;
       UPDATE organisations SET id = id + 100 WHERE id = 7;`,
    );
    await caughtUp();
    const verified = await cli(['replication', 'verify', 'demo']);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain('the replica is identical to the source');

    const text = await cli(['replication', 'status', 'demo']);
    expect(text.stdout).toMatch(/health:\s+replicating \(running\)/);
    expect(text.stdout).toContain('public.events');
    const list = await cli(['replication', 'status']);
    expect(list.stdout).toMatch(/demo\s+replicating\s+running/);
  });

  test('the replica refuses writes from application users; the metrics show the link', async () => {
    await runSql(
      pair.target.url,
      `CREATE ROLE app LOGIN PASSWORD 'app-password-1'; GRANT ALL ON ALL TABLES IN SCHEMA public TO app;
       GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app;`,
    );
    const appUrl = pair.target.url.replace(/\/\/[^@]+@/, '//app:app-password-1@');
    await expect(runSql(appUrl, `UPDATE users SET display_name = 'sneaky' WHERE id = 1`)).rejects.toThrow(
      'Cannot write to "public.users": it is a read-only replica of replication link "demo"',
    );
    await expect(runSql(appUrl, 'TRUNCATE events')).rejects.toThrow('read-only replica');

    const metrics = await server.inject('GET', '/metrics');
    expect(metrics.body).toMatch(/slipway_replication_lag_seconds\{link="demo"\} [\d.]+/);
    expect(metrics.body).toMatch(/slipway_replication_pending_changes\{link="demo"\} \d+/);
    expect(metrics.body).toContain(
      'slipway_replication_table_state{link="demo",table="public.users",state="replicating"} 1',
    );
    expect(metrics.body).toMatch(/slipway_replication_rows_applied_total\{link="demo"\} \d+/);
  });

  test('DDL on a replicated table stops the link with a clear message; replication ddl continues it', async () => {
    await runSql(pair.source.url, 'ALTER TABLE users ADD COLUMN nickname text');
    await runSql(pair.source.url, `UPDATE users SET nickname = 'nick' WHERE id < 10`);
    const stopped = await waitFor('the link to stop', (l) => l.health === 'error');
    expect(stopped.status.stoppedReason).toBe(
      'Replication link "demo" stopped: table "public.users" changed on the source: column "nickname" (text) was added',
    );
    const text = await cli(['replication', 'status', 'demo']);
    expect(text.stdout).toContain('column "nickname" (text) was added');

    const fix = join(dir, 'nickname.sql');
    await writeFile(fix, 'ALTER TABLE users ADD COLUMN nickname text;\n');
    const applied = await cli(['replication', 'ddl', 'demo', fix, '--target-only']);
    expect(applied.code).toBe(0);
    await caughtUp();

    // A change made through the link lands on both sides at a consistent point.
    const change = join(dir, 'plan-limit.sql');
    await writeFile(
      change,
      'ALTER TABLE organisations ADD COLUMN seats integer NOT NULL DEFAULT 5;\nCREATE INDEX users_nickname ON users (nickname);\n',
    );
    const both = await cli(['replication', 'ddl', 'demo', change]);
    expect(both.code).toBe(0);
    await runSql(pair.source.url, 'UPDATE organisations SET seats = 50 WHERE id = 1');
    await caughtUp();
    const [replica] = await runSql<{ seats: number }>(
      pair.target.url,
      'SELECT seats FROM organisations WHERE id = 1',
    );
    expect(replica!.seats).toBe(50);
    expect((await cli(['replication', 'verify', 'demo'])).code).toBe(0);
  });

  test('verify names the first differing key range; resync repairs the table', async () => {
    // Damage the replica behind the link's back (as the superuser, past the guard).
    await runSql(
      pair.target.url,
      `SET session_replication_role = replica; UPDATE events SET kind = 'damaged' WHERE id BETWEEN 1200 AND 1210`,
    );
    const differs = await cli(['replication', 'verify', 'demo', '--chunk-rows', '500']);
    expect(differs.code).toBe(6);
    expect(differs.stderr).toMatch(/table "public\.events" differs from key \(\d+\) to \(\d+\)/);
    expect(differs.stderr).toContain('slipway replication resync demo public.events');

    const resync = await cli(['replication', 'resync', 'demo', 'public.events']);
    expect(resync.code).toBe(0);
    await waitFor('the copy', (l) => l.status?.tables.every((t: any) => t.state === 'replicating'));
    await caughtUp();
    expect((await cli(['replication', 'verify', 'demo'])).code).toBe(0);
  });

  test('promote makes the replica writable; reverse replicates the other way in one command', async () => {
    const promoted = await cli(['replication', 'promote', 'demo']);
    expect(promoted.code).toBe(0);
    expect(promoted.stdout).toContain('it is writable now');
    const [{ last }] = (await runSql<{ last: string }>(
      pair.source.url,
      'SELECT last_value::text AS last FROM users_id_seq',
    )) as [{ last: string }];
    // The new primary takes writes, and its sequences hand out fresh values.
    const [inserted] = await runSql<{ id: string }>(
      pair.target.url,
      `INSERT INTO users (organisation_id, email) VALUES (1, 'after-failover@example.com') RETURNING id::text`,
    );
    expect(BigInt(inserted!.id)).toBeGreaterThan(BigInt(last));

    const reversed = await cli(['replication', 'reverse', 'demo', '--wait']);
    expect(reversed.code).toBe(0);
    await runSql(
      pair.target.url,
      `UPDATE users SET display_name = 'written on the new primary' WHERE id = 2`,
    );
    await caughtUp();
    const [old] = await runSql<{ display_name: string }>(
      pair.source.url,
      'SELECT display_name FROM users WHERE id = 2',
    );
    expect(old!.display_name).toBe('written on the new primary');
    // The old primary is the replica now: it refuses application writes.
    await runSql(
      pair.source.url,
      `CREATE ROLE app LOGIN PASSWORD 'app-password-1'; GRANT ALL ON users TO app`,
    );
    const appUrl = pair.source.url.replace(/\/\/[^@]+@/, '//app:app-password-1@');
    await expect(runSql(appUrl, `DELETE FROM users WHERE id = 2`)).rejects.toThrow('read-only replica');
    expect((await cli(['replication', 'verify', 'demo'])).code).toBe(0);
  });

  test('drop removes the link from both databases; no audit entry holds a connection string', async () => {
    const dropped = await cli(['replication', 'drop', 'demo']);
    expect(dropped.code).toBe(0);
    for (const url of [pair.source.url, pair.target.url]) {
      const left = await runSql(url, `SELECT 1 FROM pg_namespace WHERE nspname = '_slipway_demo'`);
      expect(left).toStrictEqual([]);
      const triggers = await runSql(
        url,
        `SELECT tgname FROM pg_trigger WHERE tgname LIKE '%slipway\\_demo%'`,
      );
      expect(triggers).toStrictEqual([]);
    }
    const audit = await server.inject('GET', '/api/audit?action=replication.&limit=100', {
      token: server.adminToken,
    });
    const actions = audit.json().map((e: { action: string }) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(['replication.create', 'replication.ddl', 'replication.promote']),
    );
    for (const secret of [pair.source.password, pair.target.password, `:${pair.source.port}/`]) {
      expect(audit.body).not.toContain(secret);
    }
  });
});
