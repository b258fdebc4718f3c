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

/** Every live process on this machine, read from /proc once. */
export async function processSnapshot(): Promise<ProcessEntry[]> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const found: ProcessEntry[] = [];
  await Promise.all(
    entries
      .filter((entry) => /^\d+$/.test(entry))
      .map(async (entry) => {
        const pid = Number(entry);
        const [cmdline, status] = await Promise.all([
          readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => ''),
          readFile(`/proc/${entry}/status`, 'utf8').catch(() => ''),
        ]);
        if (!cmdline || !status || /^State:\s+Z/m.test(status)) return;
        const parentPid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
        const namespacePids = /^NSpid:\s+([\d\s]+)$/m.exec(status)?.[1]?.trim().split(/\s+/).map(Number) ?? [
          pid,
        ];
        found.push({ pid, parentPid, namespacePids, commandLine: cmdline.split('\0').filter(Boolean) });
      }),
  );
  return found.sort((a, b) => a.pid - b.pid);
}

/** Every process whose command line has all of `needles` as arguments (from a snapshot, or /proc now). */
export async function findProcesses(
  needles: readonly string[],
  snapshot?: readonly ProcessEntry[],
): Promise<ProcessEntry[]> {
  return (snapshot ?? (await processSnapshot())).filter((p) =>
    needles.every((needle) => p.commandLine.includes(needle)),
  );
}

/**
 * Maps PIDs as seen inside a PID namespace to PIDs on this machine, for the processes descending
 * from `root` (a sandbox's init, as seen from outside).
 */
export function namespacePidMap(root: number, snapshot: readonly ProcessEntry[]): Map<number, number> {
  const children = new Map<number, ProcessEntry[]>();
  for (const p of snapshot) children.set(p.parentPid, [...(children.get(p.parentPid) ?? []), p]);
  const map = new Map<number, number>();
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    for (const child of children.get(pid) ?? []) {
      if (child.namespacePids.length > 1)
        map.set(child.namespacePids[child.namespacePids.length - 1]!, child.pid);
      queue.push(child.pid);
    }
  }
  return map;
}

/** The parent and namespace PIDs of a live process, from /proc/PID/status. */
export async function processInfo(pid: number): Promise<Omit<ProcessEntry, 'commandLine'> | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  if (!status || /^State:\s+Z/m.test(status)) return undefined;
  const parentPid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const namespacePids = /^NSpid:\s+([\d\s]+)$/m.exec(status)?.[1]?.trim().split(/\s+/).map(Number) ?? [pid];
  return { pid, parentPid, namespacePids };
}
