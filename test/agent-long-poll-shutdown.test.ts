/**
 * A control plane shutting down does not wait for its agents' long polls (each may hold a request for
 * 20 s): they are answered at once with "no change", and the agents poll again wherever the control
 * plane comes back.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../src/server/testing.ts';
import { joinSeededHost } from './environments-support.ts';

let t: TestServer;
let credential: string;

beforeAll(async () => {
  t = await startTestServer();
  credential = await joinSeededHost(t, 'polltest', 'web-1');
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

test("closing the server answers agents' long polls at once instead of waiting for them", async () => {
  const headers = { authorization: `Bearer ${credential}` };
  // The host is at revision 0: asking for what comes after it waits (up to 20 s).
  const first = await fetch(`${t.url}/api/agent/desired-state?after=-1`, { headers });
  const { revision } = (await first.json()) as { revision: number };
  const polls = Array.from({ length: 3 }, () =>
    fetch(`${t.url}/api/agent/desired-state?after=${revision}&waitMs=20000`, { headers }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as { revision: number; document: unknown },
    })),
  );
  await new Promise((resolve) => setTimeout(resolve, 500)); // the polls are waiting now
  const started = performance.now();
  await t.server.close();
  const closeMs = performance.now() - started;
  const answers = await Promise.all(polls);
  expect(answers).toStrictEqual(Array(3).fill({ status: 200, body: { revision, document: null } }));
  expect(closeMs).toBeLessThan(5000);
}, 60_000);
