import { readFileSync } from 'node:fs';
import { loadavg, totalmem, uptime } from 'node:os';
import type { HostMetrics } from './report.ts';

function cpuTimes(): { idle: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    return { idle: (fields[3] ?? 0) + (fields[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

function memory(): HostMetrics['memory'] {
  let totalBytes = totalmem();
  let availableBytes = 0;
  try {
    const text = readFileSync('/proc/meminfo', 'utf8');
    const value = (key: string) =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
    totalBytes = value('MemTotal') || totalBytes;
    availableBytes = value('MemAvailable');
  } catch {
    // not Linux: leave available at 0
  }
  const usedPercent =
    totalBytes > 0 ? Math.round((1000 * (totalBytes - availableBytes)) / totalBytes) / 10 : 0;
  return { totalBytes, availableBytes, usedPercent };
}

/** Samples CPU (between two calls), memory and load: the host metrics an agent reports. */
export class HostMetricsSampler {
  #last = cpuTimes();

  /** The metrics now; CPU is the busy share since the previous sample. */
  sample(): HostMetrics {
    const now = cpuTimes();
    let cpuPercent: number | null = null;
    if (now && this.#last && now.total > this.#last.total) {
      const total = now.total - this.#last.total;
      const idle = now.idle - this.#last.idle;
      cpuPercent = Math.round((1000 * (total - idle)) / total) / 10;
    }
    this.#last = now;
    return {
      cpuPercent,
      loadAverage: loadavg().map((n) => Math.round(n * 100) / 100),
      memory: memory(),
      uptimeSeconds: Math.round(uptime()),
    };
  }
}

/** A process's resident memory in bytes, from /proc (undefined when it cannot be read). */
export function residentBytes(pid: number): number | undefined {
  try {
    const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
    return Number(statm[1]) * 4096;
  } catch {
    return undefined;
  }
}
