import { parseDuration } from '../core/index.ts';
import type { SlipwayFile } from '../pipelines/index.ts';

/** How a release of an app is laid out on a host and how it runs, derived from its slipway.yaml. */
export interface AppLayout {
  /** The Debian package name. */
  readonly package: string;
  /** Where the package puts the app (the `to` of the `from: .` file mapping). */
  readonly directory: string;
  /** The user the package creates and the app runs as. */
  readonly user: string | null;
  /** Each process type: argv, stop signal and timeout. */
  readonly processTypes: Readonly<
    Record<
      string,
      {
        readonly command: readonly string[];
        readonly stopSignal: StopSignalName;
        readonly stopTimeoutMs: number;
        readonly http: boolean;
      }
    >
  >;
  /** Hooks run once per deployment on one host, in order. */
  readonly hooks: Readonly<Record<'predeploy' | 'postdeploy', readonly LayoutCommand[]>>;
  /** Hooks with run_on: every_host, run on each host after the install (like `config:cache`). */
  readonly hostSteps: readonly LayoutCommand[];
  /** The regression suite run against an environment after a deploy, when the app has one. */
  readonly regression: {
    readonly command: string;
    readonly timeoutMs: number;
    readonly env: readonly string[];
  } | null;
}

/** A command of a layout: argv and a timeout. */
export interface LayoutCommand {
  readonly name: string;
  readonly command: readonly string[];
  readonly timeoutMs: number;
}

/** The stop signals a process type may name. */
export type StopSignalName = 'SIGTERM' | 'SIGINT' | 'SIGQUIT' | 'SIGHUP' | 'SIGUSR1' | 'SIGUSR2';

/** A shell command line as argv; `exec` so the process itself gets the supervisor's signals. */
function shell(command: string, exec: boolean): string[] {
  return ['/bin/sh', '-c', exec ? `exec ${command}` : command];
}

/** The layout of an app's releases, from its slipway.yaml. */
export function layoutFromSlipwayFile(file: SlipwayFile): AppLayout {
  const root = file.package.files.find((f) => f.from === '.' || f.from === './');
  const processTypes: Record<string, AppLayout['processTypes'][string]> = {};
  for (const [name, process] of Object.entries(file.processes)) {
    processTypes[name] = {
      command: shell(process.command, true),
      stopSignal: `SIG${process.stop_signal}` as StopSignalName,
      stopTimeoutMs: parseDuration(process.stop_timeout),
      http: process.http,
    };
  }
  const hook = (h: { name?: string | undefined; run: string; timeout: string }): LayoutCommand => ({
    name: h.name ?? h.run,
    command: shell(h.run, false),
    timeoutMs: parseDuration(h.timeout),
  });
  return {
    package: file.package.name,
    directory: (root?.to ?? `/opt/${file.package.name}`).replace(/\/+$/, ''),
    user: file.package.user ?? null,
    processTypes,
    hooks: {
      predeploy: file.hooks.predeploy.filter((h) => h.run_on === 'one_host').map(hook),
      postdeploy: file.hooks.postdeploy.filter((h) => h.run_on === 'one_host').map(hook),
    },
    hostSteps: [...file.hooks.predeploy, ...file.hooks.postdeploy]
      .filter((h) => h.run_on === 'every_host')
      .map(hook),
    regression: file.regression
      ? {
          command: file.regression.run,
          timeoutMs: parseDuration(file.regression.timeout),
          env: file.regression.env,
        }
      : null,
  };
}
