import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';

/** Whether a process with this PID exists (and is not a zombie). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // A zombie still answers kill(0); its state letter in /proc says it is gone.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}

/** Waits until `check` is true, polling every 100 ms. @throws Error naming `what` on timeout */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
}

/** A process seen in /proc. */
export interface ProcessEntry {
  readonly pid: number;
  readonly parentPid: number;
  /** The PID in each PID namespace it belongs to, outermost first (NSpid). */
  readonly namespacePids: readonly number[];
  readonly commandLine: readonly string[];
}

/** Every process whose command line contains all of `needles` (from /proc). */
export async function findProcesses(needles: readonly string[]): Promise<ProcessEntry[]> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const found: ProcessEntry[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline) continue;
    const args = cmdline.split('\0').filter(Boolean);
    if (!needles.every((needle) => args.includes(needle))) continue;
    const info = await processInfo(Number(entry));
    if (info) found.push({ ...info, commandLine: args });
  }
  return found;
}

/** The parent and namespace PIDs of a process, from /proc/PID/status. */
export async function processInfo(pid: number): Promise<Omit<ProcessEntry, 'commandLine'> | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  if (!status) return undefined;
  if (/^State:\s+Z/m.test(status)) return undefined;
  const parentPid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const nspid = /^NSpid:\s+([\d\s]+)$/m.exec(status)?.[1]?.trim().split(/\s+/).map(Number) ?? [pid];
  return { pid, parentPid, namespacePids: nspid };
}

/**
 * Maps PIDs as seen inside a PID namespace to PIDs on this machine, for the processes descending
 * from `root` (a sandbox's init, as seen from outside).
 */
export async function namespacePidMap(root: number): Promise<Map<number, number>> {
  const map = new Map<number, number>();
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    const info = await processInfo(pid);
    if (info && info.namespacePids.length > 1)
      map.set(info.namespacePids[info.namespacePids.length - 1]!, pid);
    const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
    for (const child of children.split(' ').filter(Boolean)) queue.push(Number(child));
  }
  return map;
}
