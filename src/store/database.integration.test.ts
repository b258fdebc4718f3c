import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openDatabase } from './database.ts';
import { startPostgres, type TestPostgres } from './testing.ts';

describe('openDatabase', () => {
  let postgres: TestPostgres;
  beforeAll(async () => {
    postgres = await startPostgres();
  });
  afterAll(async () => {
    await postgres?.stop();
  });

  test('a connection lost in the middle of a transaction fails that transaction, not the process', async () => {
    const database = openDatabase(postgres, { applicationName: 'slipway-lost-connection' });
    const admin = openDatabase(postgres, { applicationName: 'slipway-admin' });
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', record);
    try {
      const transaction = database.db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx);
        // Another session ends this one while its client is checked out of the pool.
        await sql`SELECT pg_terminate_backend(${rows[0]!.pid})`.execute(admin.db);
        await new Promise((resolve) => setTimeout(resolve, 200));
        await sql`SELECT 1`.execute(trx);
      });
      await expect(transaction).rejects.toThrowError(/connection/i);
      // The pool replaces the lost connection: the next query works.
      const { rows } = await sql<{ one: number }>`SELECT 1 AS one`.execute(database.db);
      expect(rows).toStrictEqual([{ one: 1 }]);
      expect(uncaught).toStrictEqual([]);
    } finally {
      process.off('uncaughtException', record);
      await database.close();
      await admin.close();
    }
  });
});
