import { Agent, request } from 'node:http';

/** Options for a constant-rate (open-loop) load run. */
export interface PacedLoadOptions {
  readonly url: string;
  /** Requests per second, sent at evenly spaced times whatever the server's speed. */
  readonly rate: number;
  readonly durationS: number;
  /** Most connections kept open. @default 50 */
  readonly connections?: number;
  readonly headers?: Record<string, string>;
}

/** Latency percentiles (ms) and counts of a load run. */
export interface LoadResult {
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  readonly achievedRate: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Sends requests at a constant rate over a pool of keep-alive connections and measures each
 * latency from the time the request was *scheduled* (as wrk2 does), so a stalled server cannot hide
 * its queueing delay by slowing the load generator down (coordinated omission).
 */
export async function pacedLoad(options: PacedLoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections ?? 50 });
  const target = new URL(options.url);
  const total = Math.round(options.rate * options.durationS);
  const intervalMs = 1000 / options.rate;
  const latencies: number[] = [];
  let ok = 0;
  let errors = 0;
  const started = performance.now();
  const inFlight: Promise<void>[] = [];

  const send = (scheduledAt: number) =>
    new Promise<void>((resolve) => {
      const req = request(
        {
          host: target.hostname,
          port: target.port,
          path: target.pathname + target.search,
          agent,
          headers: options.headers,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - scheduledAt);
            if (res.statusCode && res.statusCode < 400) ok += 1;
            else errors += 1;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors += 1;
        latencies.push(performance.now() - scheduledAt);
        resolve();
      });
      req.end();
    });

  for (let i = 0; i < total; i++) {
    const scheduledAt = started + i * intervalMs;
    const wait = scheduledAt - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(send(scheduledAt));
  }
  await Promise.all(inFlight);
  const elapsedS = (performance.now() - started) / 1000;
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    sent: total,
    ok,
    errors,
    achievedRate: Math.round(total / elapsedS),
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? 0),
  };
}
