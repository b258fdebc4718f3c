import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Database, inTransaction, openDatabase } from '../store/index.ts';
import { startPostgres, type TestPostgres } from '../store/testing.ts';
import { JobQueue } from './job-queue.ts';
import { startSingletonLoop } from './singleton-loop.ts';

let postgres: TestPostgres;
let database: Database;
beforeAll(async () => {
  postgres = await startPostgres();
  database = openDatabase({ connectionString: postgres.url });
});
afterAll(async () => {
  await database?.close();
  await postgres?.stop();
});

function waitFor(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (check()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error('timed out'));
      setTimeout(poll, 20);
    };
    poll();
  });
}

describe('JobQueue', () => {
  test('two replicas share one queue and each job is handled exactly once', async () => {
    const a = await JobQueue.start(database.settings);
    const b = await JobQueue.start(database.settings);
    try {
      const handled: { replica: string; n: number }[] = [];
      await a.work<{ n: number }>(
        'test.shared',
        async (job) => void handled.push({ replica: 'a', n: job.data.n }),
        { pollingIntervalSeconds: 0.5 },
      );
      await b.work<{ n: number }>(
        'test.shared',
        async (job) => void handled.push({ replica: 'b', n: job.data.n }),
        { pollingIntervalSeconds: 0.5 },
      );
      for (let n = 0; n < 20; n++) await a.enqueue('test.shared', { n });
      await waitFor(() => handled.length >= 20);
      await new Promise((resolve) => setTimeout(resolve, 600)); // a duplicate would show up by now
      expect(handled.map((h) => h.n).sort((x, y) => x - y)).toStrictEqual([...Array(20).keys()]);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  test('a job enqueued in a transaction that rolls back never exists', async () => {
    const queue = await JobQueue.start(database.settings);
    try {
      const seen: string[] = [];
      await queue.work<{ tag: string }>('test.tx', async (job) => void seen.push(job.data.tag), {
        pollingIntervalSeconds: 0.5,
      });
      await inTransaction(database.db, async (trx) => {
        await queue.enqueue('test.tx', { tag: 'committed' }, { transaction: trx });
      });
      queue.wake('test.tx');
      await expect(
        inTransaction(database.db, async (trx) => {
          await queue.enqueue('test.tx', { tag: 'rolled-back' }, { transaction: trx });
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      await waitFor(() => seen.includes('committed'));
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect(seen).toStrictEqual(['committed']);
    } finally {
      await queue.stop();
    }
  });

  test('a failing job is retried until it succeeds', async () => {
    const queue = await JobQueue.start(database.settings);
    try {
      let attempts = 0;
      await queue.work(
        'test.retry',
        async () => {
          attempts += 1;
          if (attempts < 2) throw new Error('transient');
        },
        { pollingIntervalSeconds: 0.5 },
      );
      const id = await queue.enqueue('test.retry', {}, { retryLimit: 3, retryDelaySeconds: 1 });
      await waitFor(() => attempts >= 2);
      await waitFor(() => false, 1500).catch(() => undefined);
      expect(await queue.jobState('test.retry', id!)).toBe('completed');
    } finally {
      await queue.stop();
    }
  });
});

describe('startSingletonLoop()', () => {
  test('only one replica leads; when it stops, another takes over', async () => {
    const runs = { a: 0, b: 0 };
    // One replica connects with discrete fields (as the embedded server does, password and all),
    // the other with a URL: the loop's own lock connection must work with both.
    const { host, port, user, password, database } = postgres;
    const poolA = openDatabase({ host, port, user, password, database });
    const poolB = openDatabase({ connectionString: postgres.url });
    const a = startSingletonLoop(poolA.pool, {
      name: 'test-loop',
      intervalMs: 50,
      run: async () => void runs.a++,
    });
    await waitFor(() => runs.a > 0);
    const b = startSingletonLoop(poolB.pool, {
      name: 'test-loop',
      intervalMs: 50,
      run: async () => void runs.b++,
    });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(a.isLeader()).toBe(true);
    expect(b.isLeader()).toBe(false);
    expect(runs.b).toBe(0);
    await a.stop();
    await waitFor(() => runs.b > 0);
    expect(b.isLeader()).toBe(true);
    await b.stop();
    await poolA.close();
    await poolB.close();
  });

  test('a leader whose lock connection is killed loses the lead, and a follower takes over', async () => {
    const runs = { a: 0, b: 0 };
    const poolA = openDatabase({ connectionString: postgres.url }, { applicationName: 'leader-a' });
    const poolB = openDatabase({ connectionString: postgres.url }, { applicationName: 'leader-b' });
    const a = startSingletonLoop(poolA.pool, {
      name: 'failover',
      intervalMs: 50,
      run: async () => void runs.a++,
    });
    await waitFor(() => runs.a > 0);
    const b = startSingletonLoop(poolB.pool, {
      name: 'failover',
      intervalMs: 50,
      retryMs: 50,
      run: async () => void runs.b++,
    });
    // when: the database ends leader A's sessions (as a crash or network cut would)
    const holder = await database.pool.query<{ pid: number }>(
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = hashtext('slipway.loop.failover')::oid`,
    );
    expect(holder.rows).toHaveLength(1);
    await database.pool.query('SELECT pg_terminate_backend($1)', [holder.rows[0]!.pid]);
    // then: B becomes leader
    await waitFor(() => runs.b > 0);
    expect(b.isLeader()).toBe(true);
    await a.stop();
    await b.stop();
    await poolA.close();
    await poolB.close();
  });
});
