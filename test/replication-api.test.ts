/**
 * The replication API through a started control plane: refusals that name what is wrong (and never a
 * connection string), and the lag alert raised and cleared on a link whose applier is away.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createSaasSchema,
  type ReplicationPair,
  runSql,
  startApplier,
  startReplicationPair,
  waitForCatchUp,
} from '../src/replication/testing.ts';
import { generateRootKey } from '../src/secrets/index.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';

let server: TestServer;
let pair: ReplicationPair;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-replication-api-'));
  [server, pair] = await Promise.all([
    startTestServer({ rootKey: generateRootKey(), dataDir: join(dir, 'data') }),
    startReplicationPair(),
  ]);
  await createSaasSchema(pair);
});
afterAll(async () => {
  await server?.stop();
  await pair?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const admin = (method: string, path: string, body?: unknown) =>
  server.inject(method, path, { token: server.adminToken, ...(body === undefined ? {} : { body }) });

describe('replication API: refusals', () => {
  test('an unreachable database is named by side, without its connection string', async () => {
    const dead = `postgres://secret-user:secret-password@127.0.0.1:1/nowhere?sslmode=disable`;
    const response = await admin('POST', '/api/replication/links', {
      name: 'unreachable',
      source: dead,
      target: pair.target.url,
      schema: 'public',
    });
    expect(response.statusCode).toBe(503);
    expect(response.json().error.message).toBe(
      'Cannot reach the source database of replication link "unreachable": the connection was refused (is the server running and listening there?)',
    );
    const audit = await admin('GET', '/api/audit?action=replication.create&limit=5');
    for (const body of [response.body, audit.body]) {
      for (const secret of ['secret-user', 'secret-password', 'nowhere', pair.target.password]) {
        expect(body).not.toContain(secret);
      }
    }
    expect(audit.json()[0]).toMatchObject({ outcome: 'failure', target: 'replication-link:unreachable' });
  });

  test('bad input names every field; a missing table is named; a rejected create changes nothing', async () => {
    const invalid = await admin('POST', '/api/replication/links', {
      name: 'Bad Name',
      source: 'mysql://x',
      target: pair.target.url,
      tables: ['public.users'],
      schema: 'public',
    });
    expect(invalid.statusCode).toBe(400);
    expect(
      invalid
        .json()
        .error.details.map((d: { path: string }) => d.path)
        .sort(),
    ).toStrictEqual(['body.name', 'body.source', 'body.tables']);
    expect(invalid.body).not.toContain(pair.target.password);

    const missing = await admin('POST', '/api/replication/links', {
      name: 'missing',
      source: pair.source.url,
      target: pair.target.url,
      tables: ['public.users', 'public.nope'],
    });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.message).toBe(
      'Cannot create replication link "missing": the source has no table "public.nope"',
    );
    const schemas = await runSql(
      pair.source.url,
      `SELECT 1 FROM pg_namespace WHERE nspname = '_slipway_missing'`,
    );
    expect(schemas).toStrictEqual([]);
    expect((await admin('GET', '/api/replication/links/missing')).statusCode).toBe(404);
  });
});

describe('replication API: the lag alert', () => {
  test('a link whose replica falls behind raises an alert, visible in status and metrics, and clears it', async () => {
    // given an external applier that is not running, and a 1 s threshold
    const created = await admin('POST', '/api/replication/links', {
      name: 'alerting',
      source: pair.source.url,
      target: pair.target.url,
      tables: ['public.organisations'],
      applier: 'external',
      lagAlertSeconds: 1,
    });
    expect(created.statusCode).toBe(201);
    const applier = startApplier('alerting', pair);
    await waitForCatchUp('alerting', pair);
    await applier.stop();

    // when changes wait for longer than the threshold
    await runSql(pair.source.url, `INSERT INTO organisations (name) VALUES ('waiting')`);
    let link: any;
    for (let i = 0; i < 60; i++) {
      link = (await admin('GET', '/api/replication/links/alerting')).json();
      if (link.alertSince) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }

    // then the link alerts, says why, and the metrics show it
    expect(link.alertSince).not.toBeNull();
    expect(link.health).toBe('error');
    expect(link.status.pendingChanges).toBe(1);
    expect(link.events[0]).toMatchObject({ kind: 'lag-alert' });
    expect(link.events[0].message).toMatch(
      /^Lag of [\d.]+ s is above the 1 s threshold \(1 changes waiting\)$/,
    );
    const metrics = await server.inject('GET', '/metrics');
    expect(metrics.body).toContain('slipway_replication_lag_alert{link="alerting"} 1');

    // and once the applier catches up, the alert clears
    const again = startApplier('alerting', pair);
    await waitForCatchUp('alerting', pair);
    for (let i = 0; i < 60; i++) {
      link = (await admin('GET', '/api/replication/links/alerting')).json();
      if (!link.alertSince) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await again.stop();
    expect(link.alertSince).toBeNull();
    expect(link.events[0]).toMatchObject({ kind: 'lag-recovered' });
  });
});

describe('replication API: status', () => {
  test('counts every change committed before it is asked for, a schema change the replica lacks included', async () => {
    // given the caught-up link of the alert test, its applier away, and a status just read
    const before = (await admin('GET', '/api/replication/links/alerting')).json();
    expect(before.status.pendingChanges).toBe(0);

    // when a row, then a schema change through the link, commit on the source
    await runSql(pair.source.url, `INSERT INTO organisations (name) VALUES ('right after')`);
    const afterRow = (await admin('GET', '/api/replication/links/alerting')).json();
    const ddl = await admin('POST', '/api/replication/links/alerting/ddl', {
      script: 'ALTER TABLE organisations ADD COLUMN note text',
    });
    expect(ddl.statusCode).toBe(200);
    const afterDdl = (await admin('GET', '/api/replication/links/alerting')).json();

    // then each status counts them at once (not a reading from before them), until the applier has run
    expect(afterRow.status.pendingChanges).toBe(1);
    expect(afterDdl.status.pendingChanges).toBe(2);
    const applier = startApplier('alerting', pair);
    await waitForCatchUp('alerting', pair);
    await applier.stop();
    const caughtUp = (await admin('GET', '/api/replication/links/alerting')).json();
    expect(caughtUp.status.pendingChanges).toBe(0);
    const [replica] = await runSql<{ n: string }>(
      pair.target.url,
      `SELECT count(*)::text AS n FROM information_schema.columns WHERE table_name = 'organisations' AND column_name = 'note'`,
    );
    expect(replica!.n).toBe('1');
  });
});
