import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidInputError, parseDuration } from '../../core/index.ts';
import { type App, installPostReceiveHook } from '../../pipelines/index.ts';
import { apiFor, globals } from '../context.ts';
import { printObject, printTable, say } from '../output.ts';

interface AppOptions {
  repo?: string;
  branch?: string;
  path?: string;
  network?: string;
  concurrency?: string;
  pollInterval?: string;
  keep?: string;
}

function integer(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) {
    throw new InvalidInputError(`Cannot read ${flag} "${value}": it is not a whole number`, {
      hint: `Give a number, like ${flag} 2`,
    });
  }
  return Number(value);
}

/** The settings flags, as the API takes them. */
function settings(options: AppOptions): Record<string, unknown> {
  const poll =
    options.pollInterval === undefined
      ? undefined
      : options.pollInterval === 'off'
        ? null
        : Math.round(parseDuration(options.pollInterval, '--poll-interval') / 1000);
  return Object.fromEntries(
    Object.entries({
      branch: options.branch,
      path: options.path,
      network: options.network,
      concurrency: integer(options.concurrency, '--concurrency'),
      pollIntervalSeconds: poll,
      retentionKeep: integer(options.keep, '--keep'),
    }).filter(([, value]) => value !== undefined),
  );
}

function withSettingFlags(command: Command): Command {
  return command
    .option('--branch <branch>', 'the branch whose pushes build (default: master)')
    .option('--path <dir>', 'the directory of slipway.yaml in the repository (default: .)')
    .option('--network <policy>', 'network access of builds: allowed or denied (default: allowed)')
    .option('--concurrency <n>', 'runs of this app at once (default: 1)')
    .option(
      '--poll-interval <duration>',
      'poll the repository this often, like 5m, as a fallback to webhooks; "off" stops',
    )
    .option('--keep <n>', 'versions retention keeps besides promoted and deployed ones (default: 20)');
}

function appRow(app: App) {
  return {
    name: app.name,
    branch: app.branch,
    repository: app.repository,
    network: app.network,
    latest: app.latestBuild ? `${app.latestBuild.version} (${app.latestBuild.run})` : null,
  };
}

/** apps create|list|show|update|delete|rotate-secret, apps hook install. */
export function registerAppsCommands(program: Command): void {
  const apps = program
    .command('apps')
    .description('Register apps: their repository, tracked branch and build settings');

  withSettingFlags(
    apps
      .command('create <name>')
      .description('Register an app; prints its webhook secret once')
      .requiredOption(
        '--repo <url>',
        'the git repository (https://, ssh://, git@host:path, or a path on the server)',
      ),
  ).action(async (name: string, options: AppOptions, command: Command) => {
    const created = await (await apiFor(command)).post<{ app: App; webhookSecret: string }>('/api/apps', {
      name,
      repository: options.repo,
      ...settings(options),
    });
    const json = Boolean(globals(command).json);
    if (json) return printObject(created as unknown as Record<string, unknown>, true);
    say(false, `Registered app ${created.app.name}: ${created.app.repository} (${created.app.branch})`);
    say(false, `Webhook URL:    ${created.app.webhookUrl}`);
    say(false, `Webhook secret: ${created.webhookSecret}`);
    say(
      false,
      "The secret is shown this once: put it in the forge's webhook settings now (content type JSON,",
    );
    say(
      false,
      `push events), or run \`slipway apps hook install ${name} --git-dir PATH\` on the git server.`,
    );
  });

  apps
    .command('list')
    .description('List apps')
    .action(async (_o: unknown, command: Command) => {
      const list = await (await apiFor(command)).get<App[]>('/api/apps');
      printTable(
        list.map(appRow),
        ['name', 'branch', 'repository', 'network', 'latest'],
        Boolean(globals(command).json),
        list,
      );
    });

  apps
    .command('show <name>')
    .description('Show an app')
    .action(async (name: string, _o: unknown, command: Command) => {
      const app = await (await apiFor(command)).get<App>(`/api/apps/${encodeURIComponent(name)}`);
      printObject(app as unknown as Record<string, unknown>, Boolean(globals(command).json));
    });

  withSettingFlags(apps.command('update <name>').description("Change an app's settings")).action(
    async (name: string, options: AppOptions, command: Command) => {
      const app = await (await apiFor(command)).request<App>(
        'PATCH',
        `/api/apps/${encodeURIComponent(name)}`,
        settings(options),
      );
      printObject(app as unknown as Record<string, unknown>, Boolean(globals(command).json));
    },
  );

  apps
    .command('delete <name>')
    .description('Delete an app and its runs (its artifacts stay in the repository)')
    .action(async (name: string, _o: unknown, command: Command) => {
      await (await apiFor(command)).delete(`/api/apps/${encodeURIComponent(name)}`);
      say(Boolean(globals(command).json), `Deleted app ${name}`);
    });

  apps
    .command('rotate-secret <name>')
    .description('Make a new webhook secret (the old one stops working); prints it once')
    .action(async (name: string, _o: unknown, command: Command) => {
      const result = await (await apiFor(command)).post<{ webhookSecret: string; webhookUrl: string }>(
        `/api/apps/${encodeURIComponent(name)}/webhook-secret`,
      );
      if (globals(command).json) return printObject(result, true);
      say(false, `Webhook URL:    ${result.webhookUrl}`);
      say(false, `Webhook secret: ${result.webhookSecret}`);
      say(false, "Shown this once: update the forge's webhook settings now.");
    });

  const hook = apps
    .command('hook')
    .description('The post-receive hook that tells Slipway about pushes to a bare repository');
  hook
    .command('install <name>')
    .description(
      'Install the post-receive hook into a bare repository on this machine (a new hook secret each time)',
    )
    .requiredOption('--git-dir <path>', 'the bare repository the team pushes to')
    .option('--url <url>', 'the Slipway URL the hook calls (default: the server this CLI talks to)')
    .option('--force', 'replace a post-receive hook that Slipway did not write')
    .action(
      async (name: string, options: { gitDir: string; url?: string; force?: boolean }, command: Command) => {
        const api = await apiFor(command);
        const gitDir = resolve(options.gitDir);
        const { hookSecret } = await api.post<{ hookSecret: string }>(
          `/api/apps/${encodeURIComponent(name)}/hook`,
        );
        const url = options.url ?? api.target.server;
        const path = await installPostReceiveHook(
          gitDir,
          { url, app: name, secret: hookSecret },
          { ...(options.force ? { force: true } : {}) },
        );
        if (globals(command).json) return printObject({ app: name, hook: path, url }, true);
        say(false, `Installed ${path}: pushes to ${gitDir} now reach ${url} for app ${name}`);
      },
    );
}
