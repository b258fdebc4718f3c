import pg from 'pg';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../src/server/testing.ts';
import { runCli } from './support/cli.ts';

let t: TestServer;
beforeEach(async () => {
  t = await startTestServer();
  // given: a few audited changes
  for (const name of ['one', 'two', 'three', 'four']) {
    const response = await t.inject('POST', '/api/groups', { token: t.adminToken, body: { name } });
    expect(response.statusCode).toBe(201);
  }
});
afterEach(async () => {
  await t?.stop();
});

/** Runs SQL as the database superuser, bypassing the append-only triggers like an intruder would. */
async function tamper(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: t.postgres.url.replace(/\/postgres$/, '/postgres') });
  await client.connect();
  try {
    await client.query('SET session_replication_role = replica'); // disables ordinary triggers
    await client.query(statement);
  } finally {
    await client.end();
  }
}

function verify() {
  return runCli(['audit', 'verify'], { env: { SLIPWAY_URL: t.url, SLIPWAY_TOKEN: t.adminToken } });
}

describe('slipway audit verify', () => {
  test('passes on an untouched chain', async () => {
    const result = await verify();
    expect(result.stdout).toMatch(/^Audit chain intact: \d+ entries verified \(head \d+\)\n$/);
    expect(result.code).toBe(0);
  });

  test('Slipway itself cannot update or delete entries: the table is append-only', async () => {
    const client = new pg.Client({ connectionString: t.postgres.url });
    await client.connect();
    try {
      await expect(client.query(`UPDATE audit_log SET actor = 'x' WHERE id = 1`)).rejects.toThrow(
        'audit_log is append-only: UPDATE is not allowed',
      );
      await expect(client.query('DELETE FROM audit_log')).rejects.toThrow(
        'audit_log is append-only: DELETE is not allowed',
      );
    } finally {
      await client.end();
    }
  });

  test('an entry edited in SQL is named, and the command exits non-zero', async () => {
    await tamper(`UPDATE audit_log SET actor = 'mallory' WHERE id = 3`);
    const result = await verify();
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('Error: Audit entry 3 was edited: its contents no longer match its hash');
  });

  test('an entry edited with its hash recomputed is still caught by the next link', async () => {
    await tamper(`UPDATE audit_log SET actor = 'mallory', hash = repeat('a', 64) WHERE id = 2`);
    const result = await verify();
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('Audit entry 2 was edited');
  });

  test('a deleted entry is named', async () => {
    await tamper('DELETE FROM audit_log WHERE id = 2');
    const result = await verify();
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('Error: Audit entry 2 is missing: it was deleted');
  });

  test('deleting the newest entries is caught against the recorded head', async () => {
    const head = (await t.inject('GET', '/api/audit?limit=1', { token: t.adminToken })).json()[0]
      .id as number;
    await tamper(`DELETE FROM audit_log WHERE id >= ${head - 1}`);
    const result = await verify();
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`Error: Audit entries ${head - 1} to`);
  });

  test('two entries swapped are reported as reordered', async () => {
    await tamper(`UPDATE audit_log SET id = -3 WHERE id = 3;
                  UPDATE audit_log SET id = 3 WHERE id = 4;
                  UPDATE audit_log SET id = 4 WHERE id = -3`);
    const result = await verify();
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('Error: Audit entry 3 is out of order');
  });
});
