/**
 * Replication under faults, with a workload running on the source all along: the applier (the built
 * `slipway replication apply`, a child process) killed with SIGKILL in the middle of batches, the
 * source cluster restarted, and the network between the sides cut (a TCP proxy that stalls, then
 * resets connections). Each time the replica converges: verify finds it identical, so nothing was
 * lost and nothing applied twice.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  installLink,
  requestFromApplier,
  uninstallLink,
  type VerifyResult,
} from '../src/replication/index.ts';
import {
  createSaasSchema,
  type ReplicationPair,
  runSql,
  seedSaas,
  startApplier,
  startNetworkProxy,
  startReplicationPair,
  startWorkload,
  waitForCatchUp,
} from '../src/replication/testing.ts';
import { eventually } from './pipelines-support.ts';

const BIN = new URL('../bin/slipway.js', import.meta.url).pathname;

let pair: ReplicationPair;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-replication-faults-'));
  pair = await startReplicationPair();
  await createSaasSchema(pair);
  await seedSaas(pair.source.url);
});
afterAll(async () => {
  await pair?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function expectIdentical(
  link: string,
  urls = { source: pair.source, target: pair.target },
): Promise<void> {
  const applier = startApplier(link, urls);
  try {
    await waitForCatchUp(link, urls, { timeoutMs: 120_000 });
    const target = new pg.Client({ connectionString: urls.target.url });
    await target.connect();
    try {
      const { result, error } = await requestFromApplier<VerifyResult>(target, link, 'verify', {
        timeoutMs: 120_000,
      });
      expect(error).toBeUndefined();
      expect(result!.tables.filter((t) => !t.identical)).toStrictEqual([]);
      expect(result!.tables.map((t) => t.sourceRows).reduce((a, b) => a + b, 0)).toBeGreaterThan(20_000);
    } finally {
      await target.end();
    }
  } finally {
    await applier.stop();
  }
}

/** Starts `slipway replication apply` as a child process. */
async function spawnApplier(link: string): Promise<{ child: ChildProcess; output: () => string }> {
  const sourceFile = join(dir, 'source.dsn');
  const targetFile = join(dir, 'target.dsn');
  await writeFile(sourceFile, pair.source.url, { mode: 0o600 });
  await writeFile(targetFile, pair.target.url, { mode: 0o600 });
  const child = spawn(
    process.execPath,
    [BIN, 'replication', 'apply', link, '--source-file', sourceFile, '--target-file', targetFile, '--json'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
    },
  );
  let output = '';
  child.stdout!.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    output += chunk;
  });
  return { child, output: () => output };
}

/** Waits until the applier's target session is inside a transaction (applying a batch). */
async function waitInsideBatch(link: string, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const rows = await runSql<{ n: number }>(
      pair.target.url,
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND xact_start IS NOT NULL
         AND backend_xid IS NOT NULL`,
      [`slipway-applier:${link}`],
    );
    if (rows[0]!.n > 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return false;
}

describe('replication under faults', () => {
  test('kill -9 of the applier in the middle of batches loses nothing and applies nothing twice', {
    timeout: 240_000,
  }, async () => {
    await installLink('kill', { source: pair.source.url, target: pair.target.url }, { schema: 'public' });
    const workload = startWorkload(pair.source.url, { connections: 3, bulkRows: 8_000 });
    let midBatch = 0;
    try {
      for (let round = 0; round < 5; round++) {
        const { child, output } = await spawnApplier('kill');
        if (await waitInsideBatch('kill')) midBatch += 1;
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
        expect(output()).not.toContain(pair.source.password);
      }
    } finally {
      expect((await workload.stop()) > 10).toBe(true);
    }
    expect(midBatch).toBeGreaterThanOrEqual(3);
    await expectIdentical('kill');
    await uninstallLink('kill', { source: pair.source.url, target: pair.target.url });
  });

  test('a source restart while changes flow is survived', { timeout: 240_000 }, async () => {
    await installLink('restart', { source: pair.source.url, target: pair.target.url }, { schema: 'public' });
    const events: string[] = [];
    const applier = startApplier('restart', pair, { onEvent: (e) => events.push(e.kind) });
    const workload = startWorkload(pair.source.url, { connections: 3 });
    try {
      await waitForCatchUp('restart', pair, { timeoutMs: 60_000 });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await pair.source.cluster.stop('fast');
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await pair.source.cluster.start();
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    } finally {
      await workload.stop();
      await applier.stop();
    }
    expect(events).toContain('error');
    await expectIdentical('restart');
    await uninstallLink('restart', { source: pair.source.url, target: pair.target.url });
  });

  test('a network cut between the sides (stalled, then reset) is survived', {
    timeout: 240_000,
  }, async () => {
    const [sourceProxy, targetProxy] = await Promise.all([
      startNetworkProxy(pair.source.port),
      startNetworkProxy(pair.target.port),
    ]);
    const viaProxy = {
      source: { url: sourceProxy.urlFor(pair.source.url) },
      target: { url: targetProxy.urlFor(pair.target.url) },
    };
    await installLink('cut', { source: pair.source.url, target: pair.target.url }, { schema: 'public' });
    const events: string[] = [];
    const applier = startApplier('cut', viaProxy, {
      networkTimeoutMs: 1_500,
      onEvent: (e) => events.push(e.kind === 'error' ? `error: ${e.message}` : e.kind),
    });
    const workload = startWorkload(pair.source.url, { connections: 3 });
    try {
      await waitForCatchUp('cut', pair, { timeoutMs: 60_000 });
      // Packets vanish: nothing answers, nothing is reset.
      sourceProxy.blackhole();
      targetProxy.blackhole();
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      sourceProxy.restore();
      targetProxy.restore();
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      // Then every connection is reset and new ones are refused for a while.
      sourceProxy.cut();
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      sourceProxy.restore();
      targetProxy.cut();
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      targetProxy.restore();
      await waitForCatchUp('cut', pair, { timeoutMs: 60_000 });
    } finally {
      await workload.stop();
      await applier.stop();
      await Promise.all([sourceProxy.close(), targetProxy.close()]);
    }
    expect(events.some((e) => e.includes('no answer from the'))).toBe(true);
    expect(events.filter((e) => e === 'connected').length).toBeGreaterThanOrEqual(3);
    await expectIdentical('cut');
  });
});

describe('a target crash', () => {
  test('batches the target lost are applied again: the source log was trimmed only up to what the target had made durable', {
    timeout: 120_000,
  }, async () => {
    // Commits are asynchronous on these clusters, and the target writes its WAL only every 10 s: a
    // crash takes every commit since its last flush.
    const crash = await startReplicationPair({ settings: { wal_writer_delay: '10s' } });
    const urls = { source: crash.source.url, target: crash.target.url };
    const count = 'SELECT count(*)::int AS n, coalesce(sum(id), 0)::int AS sum FROM items';
    try {
      for (const url of [urls.source, urls.target]) {
        await runSql(url, 'CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL)');
      }
      await installLink('crash', urls, { tables: ['public.items'] });
      const applier = startApplier('crash', crash, { maintenanceMs: 50, rotateAfterMs: 100 });
      let rows = 0;
      try {
        await waitForCatchUp('crash', crash);
        await runSql(urls.target, 'CHECKPOINT'); // the link and its copy are durable; what follows is not
        // Rows in many transactions, across several log generations that are trimmed once applied.
        const until = Date.now() + 1_500;
        while (Date.now() < until) {
          await runSql(
            urls.source,
            `INSERT INTO items SELECT g, 'v' || g FROM generate_series(${rows + 1}, ${rows + 20}) g`,
          );
          rows += 20;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await waitForCatchUp('crash', crash);
        // The log generations that held the rows are switched out and trimmed: the source keeps none.
        const logged = `SELECT (SELECT count(*) FROM _slipway_crash.log_1_0) + (SELECT count(*) FROM _slipway_crash.log_1_1) AS n`;
        await eventually(
          async () => Number((await runSql<{ n: unknown }>(urls.source, logged))[0]!.n) === 0 || undefined,
          'the source trimmed its capture log',
        );
      } finally {
        await applier.stop();
      }
      await crash.target.cluster.stop('immediate');
      await crash.target.cluster.start();

      const again = startApplier('crash', crash);
      try {
        await waitForCatchUp('crash', crash);
      } finally {
        await again.stop();
      }
      const [source] = await runSql(urls.source, count);
      expect(source).toStrictEqual({ n: rows, sum: (rows * (rows + 1)) / 2 });
      expect((await runSql(urls.target, count))[0]).toStrictEqual(source);
    } finally {
      await crash.stop();
    }
  });
});
