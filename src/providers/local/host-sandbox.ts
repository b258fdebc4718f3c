/**
 * A host of the local provider: a bubblewrap sandbox with its own root-owned tree (/etc and the dpkg
 * database copy-on-write over the machine's, its own /opt, /var/log, /srv, /home, /tmp, /run), its
 * own PID namespace, and its own agent. The network is the machine's (loopback), so the agent reaches
 * the control plane and HAProxy reaches the host's processes on 127.0.0.1.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT, UnavailableError } from '../../core/index.ts';
import { findProcesses, isProcessAlive, type ProcessEntry, processInfo, waitFor } from './process-tools.ts';

const run = promisify(execFile);

/** How hosts are sandboxed on this machine. */
export interface SandboxSupport {
  /** bubblewrap runs. */
  readonly bubblewrap: boolean;
  /** overlayfs mounts work in a private mount namespace (else /etc and the dpkg database are copied). */
  readonly overlay: boolean;
}

let detected: Promise<SandboxSupport> | undefined;

/** Finds out once per process what this machine allows. */
export function detectSandboxSupport(scratch: string): Promise<SandboxSupport> {
  detected ??= (async () => {
    const bubblewrap = await run('bwrap', [
      '--ro-bind',
      '/usr',
      '/usr',
      '--symlink',
      'usr/bin',
      '/bin',
      '--symlink',
      'usr/lib',
      '/lib',
      '--symlink',
      'usr/lib64',
      '/lib64',
      '--unshare-pid',
      '--',
      '/usr/bin/true',
    ]).then(
      () => true,
      () => false,
    );
    await mkdir(scratch, { recursive: true, mode: 0o700 });
    const dir = await mkdtemp(join(scratch, 'overlay-probe-'));
    try {
      for (const sub of ['lower', 'upper', 'work', 'merged']) await mkdir(join(dir, sub));
      const overlay = await run('unshare', [
        '--mount',
        '--propagation',
        'private',
        '--',
        'mount',
        '-t',
        'overlay',
        'overlay',
        '-o',
        `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`,
        `${dir}/merged`,
      ]).then(
        () => true,
        () => false,
      );
      return { bubblewrap, overlay };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return detected;
}

/** How a host is isolated, in words for `env show`. */
export function describeIsolation(support: SandboxSupport): { isolated: boolean; isolation: string } {
  if (!support.bubblewrap) {
    return {
      isolated: false,
      isolation:
        'NOT ISOLATED: bubblewrap is not available, so the agent and its processes run directly on this machine as root (install bubblewrap)',
    };
  }
  return {
    isolated: true,
    isolation: `bubblewrap sandbox: own /etc and dpkg database (${support.overlay ? 'copy-on-write over' : 'copied from'} the machine's), own /opt, /var, /srv, /home, /tmp, /run; own PID namespace; the machine's network (loopback); CPU and memory sizes are not enforced locally`,
  };
}

/** The first node process running the agent at or below `pid` (the spawned wrapper's descendants). */
async function agentBelow(pid: number, depth = 0): Promise<ProcessEntry | undefined> {
  const info = await processInfo(pid);
  if (!info) return undefined;
  const commandLine = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''))
    .split('\0')
    .filter(Boolean);
  if (
    /(^|\/)node[\d.]*$/.test(commandLine[0] ?? '') &&
    commandLine.some((a) => a.endsWith('agent/main.js'))
  ) {
    return { ...info, commandLine };
  }
  if (depth > 4) return undefined;
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  for (const child of children.split(' ').filter(Boolean)) {
    const found = await agentBelow(Number(child), depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** The agent entry point, relative to Slipway's package. */
const AGENT_ENTRY = join('dist', 'agent', 'main.js');

/** One sandboxed host and its agent. */
export class LocalHost {
  readonly directory: string;
  readonly label: string;
  readonly #hostname: string;
  readonly #support: SandboxSupport;
  readonly #packageRoot: string;

  constructor(options: {
    directory: string;
    label: string;
    hostname: string;
    support: SandboxSupport;
    packageRoot?: string;
  }) {
    this.directory = options.directory;
    this.label = options.label;
    this.#hostname = options.hostname;
    this.#support = options.support;
    this.#packageRoot = options.packageRoot ?? PACKAGE_ROOT;
  }

  /** The host's own tree, mounted as its /etc, /var, /opt, … */
  get fs(): string {
    return join(this.directory, 'fs');
  }

  /** Where the agent keeps its credential (on this machine). */
  get agentStateDirectory(): string {
    return join(this.fs, 'var', 'lib', 'slipway-agent');
  }

  /** Where process logs go (on this machine). */
  get logDirectory(): string {
    return join(this.fs, 'var', 'log', 'slipway');
  }

  /** Creates the host's tree; a tree that exists is left as it is. */
  async prepare(): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    for (const dir of [
      'etc',
      'var/lib/dpkg',
      'var/lib/slipway-agent',
      'var/log/slipway',
      'var/tmp',
      'var/cache',
      'opt/slipway/dist/agent',
      'srv',
      'home',
      'root',
      'tmp',
      'run',
    ]) {
      await mkdir(join(this.fs, dir), { recursive: true, mode: 0o755 });
    }
    await chmod(join(this.fs, 'tmp'), 0o1777);
    await chmod(join(this.fs, 'var', 'tmp'), 0o1777);
    await chmod(this.agentStateDirectory, 0o700);
    const packageJson = join(this.fs, 'opt', 'slipway', 'package.json');
    if (!existsSync(packageJson)) await writeFile(packageJson, '');
    if (this.#support.bubblewrap && this.#support.overlay) {
      for (const dir of ['etc/upper', 'etc/work', 'dpkg/upper', 'dpkg/work']) {
        await mkdir(join(this.directory, 'overlay', dir), { recursive: true, mode: 0o755 });
      }
    } else if (this.#support.bubblewrap && (await readdir(join(this.fs, 'etc'))).length === 0) {
      await cp('/etc', join(this.fs, 'etc'), {
        recursive: true,
        preserveTimestamps: true,
        verbatimSymlinks: true,
      });
      await cp('/var/lib/dpkg', join(this.fs, 'var', 'lib', 'dpkg'), {
        recursive: true,
        preserveTimestamps: true,
        verbatimSymlinks: true,
      });
    }
  }

  /** Whether the agent has joined (it keeps its credential in the host). */
  hasCredential(): boolean {
    return existsSync(join(this.agentStateDirectory, 'credential.json'));
  }

  /** Leaves a join token where the agent looks for one. */
  async writeJoinToken(token: string): Promise<void> {
    await writeFile(join(this.agentStateDirectory, 'join-token'), `${token}\n`, { mode: 0o600 });
  }

  /**
   * The running agent processes of this host (normally one), found by their label. Only the agent
   * itself (node running agent/main.js): the sandbox's wrappers carry the label in their arguments too.
   */
  async agents(snapshot?: readonly ProcessEntry[]): Promise<ProcessEntry[]> {
    const found = await findProcesses([`--label=${this.label}`], snapshot);
    return found.filter(
      (p) =>
        /(^|\/)node[\d.]*$/.test(p.commandLine[0] ?? '') &&
        p.commandLine.some((arg) => arg.endsWith('agent/main.js')),
    );
  }

  /**
   * The init of an agent's sandbox (bubblewrap's process that is PID 1 of the host's namespace), as
   * seen from this machine: killing it ends every process of the host. Undefined unless the agent's
   * parent is that very process (never the control plane or anything else).
   */
  async sandboxInit(agent: ProcessEntry, snapshot?: readonly ProcessEntry[]): Promise<number | undefined> {
    if (!this.#support.bubblewrap || agent.parentPid <= 1 || agent.parentPid === process.pid)
      return undefined;
    const [parent] = (await findProcesses([`--label=${this.label}`], snapshot)).filter(
      (p) => p.pid === agent.parentPid,
    );
    if (!parent || !parent.commandLine[0]!.endsWith('bwrap') || parent.namespacePids.length < 2)
      return undefined;
    return parent.pid;
  }

  /** Starts the agent (in its sandbox) and waits until its process is there. */
  async startAgent(serverUrl: string): Promise<ProcessEntry> {
    const entry = join(this.#packageRoot, AGENT_ENTRY);
    if (!existsSync(entry)) {
      throw new UnavailableError(
        'Cannot start a host agent: Slipway has not been built (dist/agent/main.js is missing)',
        {
          hint: 'Run `npm run build` in the Slipway checkout, then apply again',
          retryable: false,
        },
      );
    }
    const agentArgs = [
      '--max-semi-space-size=1',
      this.#support.bubblewrap ? '/opt/slipway/dist/agent/main.js' : entry,
      '--server',
      serverUrl,
      '--state-dir',
      this.#support.bubblewrap ? '/var/lib/slipway-agent' : this.agentStateDirectory,
      '--log-dir',
      this.#support.bubblewrap ? '/var/log/slipway' : this.logDirectory,
      `--label=${this.label}`,
    ];
    const log = openSync(join(this.directory, 'agent.log'), 'a', 0o600);
    let spawned: number | undefined;
    try {
      const [command, args] = this.#command(agentArgs);
      const child = spawn(command, args, {
        detached: true, // the agent outlives the control plane: hosts keep running while it restarts
        stdio: ['ignore', log, log],
        env: {
          PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          HOME: '/root',
          LANG: 'C.UTF-8',
        },
      });
      child.on('error', () => undefined);
      child.unref();
      spawned = child.pid;
    } finally {
      closeSync(log);
    }
    let found: ProcessEntry | undefined;
    await waitFor(
      async () => {
        // Follow the spawned process's descendants (cheap), not a scan of every process.
        found = spawned ? await agentBelow(spawned) : undefined;
        return found !== undefined;
      },
      10_000,
      `the agent of ${this.label} to start (see ${join(this.directory, 'agent.log')})`,
    );
    return found!;
  }

  /**
   * Stops the agent: SIGTERM (it stops its processes gracefully), then after `timeoutMs` SIGKILL to
   * the sandbox's init, which takes every process of the host with it.
   */
  async stopAgent(timeoutMs: number): Promise<void> {
    const agents = await this.agents();
    const inits = new Set<number>();
    for (const agent of agents) {
      const init = await this.sandboxInit(agent);
      if (init) inits.add(init);
      try {
        process.kill(agent.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    const allGone = () => agents.every((a) => !isProcessAlive(a.pid));
    await waitFor(allGone, timeoutMs, `the agent of ${this.label} to stop`).catch(() => undefined);
    for (const pid of [...inits, ...agents.map((a) => a.pid)]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await waitFor(
      () => allGone() && [...inits].every((p) => !isProcessAlive(p)),
      5000,
      `the sandbox of ${this.label} to end`,
    ).catch(() => undefined);
  }

  /** Kills whatever is left of a sandbox whose agent died (its init and every process in it). */
  async killSandbox(agent: ProcessEntry | undefined): Promise<void> {
    const init = agent ? await this.sandboxInit(agent) : undefined;
    if (init) {
      try {
        process.kill(init, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }

  /** Kills whatever is left of this host's sandboxes when no agent runs (found by their label). */
  async killLeftovers(): Promise<void> {
    for (const leftover of await findProcesses([`--label=${this.label}`])) {
      if (leftover.pid === process.pid) continue;
      try {
        process.kill(leftover.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }

  /** Removes the host's tree (stop the agent first). */
  async remove(): Promise<void> {
    await rm(this.directory, { recursive: true, force: true });
  }

  #command(agentArgs: string[]): [string, string[]] {
    const node = process.execPath;
    if (!this.#support.bubblewrap) return [node, agentArgs];
    const fs = this.fs;
    const bwrap = [
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--hostname',
      this.#hostname,
      '--ro-bind',
      '/usr',
      '/usr',
      '--symlink',
      'usr/bin',
      '/bin',
      '--symlink',
      'usr/sbin',
      '/sbin',
      '--symlink',
      'usr/lib',
      '/lib',
      '--symlink',
      'usr/lib64',
      '/lib64',
      '--bind',
      join(fs, 'etc'),
      '/etc',
      '--bind',
      join(fs, 'var'),
      '/var',
      '--bind',
      join(fs, 'var', 'lib', 'dpkg'),
      '/var/lib/dpkg',
      '--bind',
      join(fs, 'opt'),
      '/opt',
      '--bind',
      join(fs, 'srv'),
      '/srv',
      '--bind',
      join(fs, 'home'),
      '/home',
      '--bind',
      join(fs, 'root'),
      '/root',
      '--bind',
      join(fs, 'tmp'),
      '/tmp',
      '--bind',
      join(fs, 'run'),
      '/run',
      '--ro-bind',
      join(this.#packageRoot, 'dist', 'agent'),
      '/opt/slipway/dist/agent',
      '--ro-bind',
      join(this.#packageRoot, 'package.json'),
      '/opt/slipway/package.json',
      '--dev',
      '/dev',
      '--proc',
      '/proc',
      '--chdir',
      '/',
    ];
    if (!node.startsWith('/usr/')) bwrap.push('--ro-bind', dirname(node), dirname(node));
    bwrap.push('--', node, ...agentArgs);
    if (!this.#support.overlay) return ['bwrap', bwrap];
    // Copy-on-write /etc and dpkg database: overlay mounts in a mount namespace of the host's own,
    // which disappear with its last process.
    const script = [
      'set -e',
      'H="$1"; shift',
      'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$H/overlay/etc/upper,workdir=$H/overlay/etc/work" "$H/fs/etc"',
      'mount -t overlay overlay -o "lowerdir=/var/lib/dpkg,upperdir=$H/overlay/dpkg/upper,workdir=$H/overlay/dpkg/work" "$H/fs/var/lib/dpkg"',
      'exec "$@"',
    ].join('\n');
    return [
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        '--',
        '/bin/sh',
        '-c',
        script,
        'sh',
        this.directory,
        'bwrap',
        ...bwrap,
      ],
    ];
  }
}
