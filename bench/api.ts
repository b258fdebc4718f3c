/**
 * API benchmark (Foundation issue): GET /api/whoami with a bearer token, 50 connections on loopback,
 * against the built server running as its own process on the embedded PostgreSQL.
 * Maximum throughput with autocannon (50 connections, closed loop); latency at 1,000 req/s with a
 * constant-rate open-loop generator (bench/load.ts), which autocannon's burst pacing cannot give.
 * Baseline in the same run: GET /healthz (no authentication, no database) on the same server.
 * Also: server start time on an existing data directory (target < 3 s).
 * Targets: p99 < 20 ms at 1,000 req/s.
 */
import autocannon from 'autocannon';
import { pacedLoad } from './load.ts';
import { removeBenchDir, report, startBenchServer } from './support.ts';

const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const PASSWORD = 'bench-admin-password';

interface Load {
  readonly path: string;
  readonly rate?: number;
  readonly token?: string;
}

async function load(url: string, { path, rate, token }: Load) {
  if (rate) {
    // Constant-rate, open-loop: latency counts from the scheduled send time (no coordinated omission).
    const paced = await pacedLoad({
      url: `${url}${path}`,
      rate,
      durationS: DURATION_S,
      connections: 50,
      ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    });
    return {
      path,
      mode: `${rate} req/s (paced)`,
      'req/s': paced.achievedRate,
      'p50 ms': paced.p50,
      'p99 ms': paced.p99,
      'max ms': paced.max,
      errors: paced.errors,
    };
  }
  const result = await autocannon({
    url: `${url}${path}`,
    connections: 50,
    duration: DURATION_S,
    ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
  });
  return {
    path,
    mode: rate ? `${rate} req/s` : 'max',
    'req/s': Math.round(result.requests.average),
    'p50 ms': result.latency.p50,
    'p99 ms': result.latency.p99,
    'max ms': result.latency.max,
    errors: result.errors + result.non2xx,
  };
}

const server = await startBenchServer({ adminPassword: PASSWORD });
const { dataDir } = server;
let restart: Awaited<ReturnType<typeof startBenchServer>> | undefined;
try {
  const login = await fetch(`${server.url}/api/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: PASSWORD, name: 'bench' }),
  });
  const { value: token } = (await login.json()) as { value: string };
  await load(server.url, { path: '/api/whoami', token, rate: 200 }); // warm-up
  const rows = [
    await load(server.url, { path: '/healthz' }),
    await load(server.url, { path: '/api/whoami', token }),
    await load(server.url, { path: '/api/whoami', token, rate: 1000 }),
  ];
  await server.stop();
  restart = await startBenchServer({ dataDir, adminPassword: PASSWORD });
  const [baseline, max, paced] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];
  report('api: GET /api/whoami with a token, 50 connections', rows, {
    whoamiMaxReqPerSec: max['req/s'],
    whoamiAt1000: { reqPerSec: paced['req/s'], p50Ms: paced['p50 ms'], p99Ms: paced['p99 ms'] },
    ratioToHealthz: Number((max['req/s'] / baseline['req/s']).toFixed(2)),
    targetP99At1000Ms: 20,
    p99TargetMet: paced['p99 ms'] < 20 && paced.errors === 0,
    firstStartMs: Math.round(server.startMs),
    restartOnExistingDataDirMs: Math.round(restart.startMs),
    restartTargetMs: 3000,
  });
} finally {
  await restart?.stop();
  if (server.child.exitCode === null) await server.stop();
  await removeBenchDir(dataDir);
}
