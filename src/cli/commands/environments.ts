import type { Command } from 'commander';
import { ErrorCode, InvalidInputError, SlipwayError } from '../../core/index.ts';
import type { ApiClient } from '../api-client.ts';
import { apiFor, globals } from '../context.ts';
import { printObject, printTable, say } from '../output.ts';
import { ask } from '../prompt.ts';

interface Problem {
  file: string;
  path: string;
  value?: unknown;
  message: string;
  fix: string;
}
interface Change {
  action: 'create' | 'update' | 'delete';
  resource: string;
  description: string;
  fields: { path: string; before: unknown; after: unknown }[];
}
interface Plan {
  id: string;
  environment: string;
  kind: string;
  status: string;
  commit: string | null;
  file: string | null;
  trigger: string;
  createdBy: string;
  createdAt: string;
  summary: { create: number; update: number; delete: number };
  changes: Change[];
  problems: Problem[];
  error: string | null;
}
interface Step {
  at: string;
  resource: string;
  action: string;
  status: string;
  message: string;
}
interface Apply {
  id: string;
  environment: string;
  planId: string;
  status: string;
  requestedBy: string;
  requestedAt: string;
  finishedAt: string | null;
  commit: string | null;
  steps: Step[];
  error: string | null;
}
interface HostView {
  name: string;
  services: string[];
  status: string;
  problems: string[];
  agent: { connected: boolean; pid: number | null; lastReportAt: string | null };
  processes: {
    name: string;
    state: string;
    hostPid: number | null;
    restarts: number;
    health: { status: string };
  }[];
}
interface EnvironmentView {
  name: string;
  status: string;
  problems: string[];
  provider: { kind: string } | null;
  file: string | null;
  appliedCommit: string | null;
  appliedAt: string | null;
  isolation: { isolated: boolean; description: string } | null;
  hosts: HostView[];
  loadBalancer: {
    status: string;
    endpoints: { port: number; url: string }[];
    servers: { name: string; status: string; weight: number }[];
  } | null;
  database: {
    status: string;
    host: string | null;
    port: number | null;
    databases: string[];
    roles: string[];
  } | null;
  lastApply: Apply | null;
  waitingPlan: Plan | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const path = (name: string) => `/api/environments/${encodeURIComponent(name)}`;

function formatProblems(problems: readonly Problem[]): string {
  return problems
    .map(
      (p) =>
        `  ${p.file}: ${p.path || '(file)'}${p.value === undefined ? '' : ` = ${JSON.stringify(p.value)}`}\n    ${p.message}\n    fix: ${p.fix}`,
    )
    .join('\n');
}

/** Waits for a plan's evaluation in the background, then returns it. */
async function settledPlan(api: ApiClient, name: string, id: string, timeoutMs = 180_000): Promise<Plan> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const plan = await api.get<Plan>(`${path(name)}/plans/${id}`);
    if (plan.status !== 'evaluating') return plan;
    if (Date.now() > deadline) {
      throw new SlipwayError(
        ErrorCode.Unavailable,
        `The plan of "${name}" is still being evaluated after ${timeoutMs / 1000} s`,
        {
          hint: `Look at it later with \`slipway env plans ${name}\``,
        },
      );
    }
    await sleep(300);
  }
}

function refuseInvalid(plan: Plan): void {
  if (plan.status !== 'invalid') return;
  if (plan.problems.length > 0) {
    throw new InvalidInputError(
      `Cannot plan "${plan.environment}": the infrastructure repository${plan.commit ? ` at ${plan.commit.slice(0, 12)}` : ''} has ${plan.problems.length} problem${plan.problems.length === 1 ? '' : 's'}:\n${formatProblems(plan.problems)}`,
      { hint: 'Fix every problem listed, commit, and plan again; nothing running was touched' },
    );
  }
  throw new SlipwayError(
    ErrorCode.Conflict,
    `Cannot plan "${plan.environment}": ${plan.error ?? 'the plan could not be made'}`,
    {
      hint: 'Check the tracked repository with `slipway env source show`',
    },
  );
}

function printPlan(plan: Plan): void {
  const s = plan.summary;
  const where = plan.commit
    ? ` (commit ${plan.commit.slice(0, 12)}${plan.file ? `, ${plan.file}` : ''})`
    : '';
  process.stdout.write(
    `Plan ${plan.id} for "${plan.environment}"${where}: ${s.create} to create, ${s.update} to change, ${s.delete} to remove\n`,
  );
  if (plan.changes.length === 0)
    process.stdout.write('  No changes: the environment already matches its definition.\n');
  for (const change of plan.changes) {
    const sign = change.action === 'create' ? '+' : change.action === 'delete' ? '-' : '~';
    process.stdout.write(`  ${sign} ${change.resource.padEnd(28)} ${change.description}\n`);
    for (const field of change.fields) {
      process.stdout.write(
        `      ${field.path}: ${JSON.stringify(field.before)} → ${JSON.stringify(field.after)}\n`,
      );
    }
  }
  if (plan.status === 'awaiting-approval') {
    process.stdout.write(
      `It waits for an administrator of "${plan.environment}": slipway env approve ${plan.environment} --plan ${plan.id}\n`,
    );
  }
}

/** Follows an apply until it ends, printing each step; throws when it failed. */
async function follow(api: ApiClient, name: string, apply: Apply, json: boolean): Promise<Apply> {
  let shown = 0;
  let current = apply;
  let planShown = false;
  while (true) {
    if (!planShown && !json) {
      const plan = await api.get<Plan>(`${path(name)}/plans/${current.planId}`);
      if (plan.status !== 'evaluating') {
        planShown = true;
        refuseInvalid(plan);
        printPlan(plan);
      }
    }
    for (const step of current.steps.slice(shown)) {
      if (!json && step.action !== 'log')
        say(
          false,
          `  ${step.at.slice(11, 19)} ${step.status.padEnd(7)} ${step.resource} ${step.action}: ${step.message}`,
        );
      else if (!json) say(false, `  ${step.at.slice(11, 19)}         ${step.message}`);
    }
    shown = current.steps.length;
    if (current.status === 'succeeded' || current.status === 'failed') break;
    await sleep(500);
    current = await api.get<Apply>(`${path(name)}/applies/${apply.id}`);
  }
  if (current.status === 'failed') {
    const plan = await api.get<Plan>(`${path(name)}/plans/${current.planId}`);
    refuseInvalid(plan);
    throw new SlipwayError(
      ErrorCode.Internal,
      `The apply of "${name}" failed: ${current.error ?? 'see its steps'}`,
      {
        hint: `See its steps with \`slipway env history ${name} --json\`; fix the cause and apply again (it resumes where it stopped)`,
      },
    );
  }
  return current;
}

function printView(view: EnvironmentView): void {
  printObject(
    {
      environment: view.name,
      status: view.status,
      provider: view.provider?.kind ?? null,
      definition: view.file,
      appliedCommit: view.appliedCommit,
      appliedAt: view.appliedAt,
      isolation: view.isolation
        ? `${view.isolation.isolated ? '' : 'NOT ISOLATED: '}${view.isolation.description}`
        : null,
      loadBalancer: view.loadBalancer
        ? `${view.loadBalancer.status}: ${view.loadBalancer.endpoints.map((e) => `${e.port} → ${e.url}`).join(', ')}`
        : null,
      database: view.database
        ? `${view.database.status}: PostgreSQL on ${view.database.host}:${view.database.port} (databases ${view.database.databases.join(', ')}; roles ${view.database.roles.join(', ')})`
        : null,
      lastApply: view.lastApply
        ? `${view.lastApply.status} (${view.lastApply.requestedBy}, ${view.lastApply.requestedAt})`
        : null,
      waitingPlan: view.waitingPlan ? `${view.waitingPlan.id} (slipway env approve ${view.name})` : null,
    },
    false,
  );
  printTable(
    view.hosts.flatMap((h) =>
      (h.processes.length > 0 ? h.processes : [undefined]).map((p, i) => ({
        host: i === 0 ? h.name : '',
        status: i === 0 ? h.status : '',
        agent: i === 0 ? (h.agent.connected ? `connected (pid ${h.agent.pid ?? '?'})` : 'not connected') : '',
        process: p?.name ?? '-',
        state: p ? `${p.state}, ${p.health.status}` : '-',
        pid: p?.hostPid ?? '-',
        restarts: p?.restarts ?? '-',
      })),
    ),
    ['host', 'status', 'agent', 'process', 'state', 'pid', 'restarts'],
    false,
  );
  if (view.problems.length > 0) say(false, `Problems:\n${view.problems.map((p) => `  - ${p}`).join('\n')}`);
}

/** slipway env … */
export function registerEnvironmentCommands(program: Command): void {
  const env = program.command('env').description('Environments as code: plan, apply, show, destroy');

  env
    .command('list')
    .description('List environments and how they are doing')
    .action(async (_options: unknown, command: Command) => {
      const list = await (await apiFor(command)).get<Record<string, unknown>[]>('/api/environments');
      printTable(
        list,
        ['name', 'status', 'provider', 'healthyHosts', 'hosts', 'appliedCommit', 'waitingPlan'],
        Boolean(globals(command).json),
        list,
      );
    });

  env
    .command('plan <name>')
    .description(
      'Plan an environment from the head of the tracked branch: what would be created, changed and removed',
    )
    .action(async (name: string, _options: unknown, command: Command) => {
      const api = await apiFor(command);
      const json = Boolean(globals(command).json);
      const requested = await api.post<Plan>(`${path(name)}/plans`);
      const plan = await settledPlan(api, name, requested.id);
      if (json) {
        printObject(plan as unknown as Record<string, unknown>, true);
        if (plan.status === 'invalid') process.exitCode = 2;
        return;
      }
      refuseInvalid(plan);
      printPlan(plan);
      say(false, `Apply it with: slipway env apply ${name} --plan ${plan.id}`);
    });

  env
    .command('apply <name>')
    .description(
      'Apply an environment (the head of the tracked branch, or --plan ID) and wait until it is healthy',
    )
    .option('--plan <id>', 'apply this plan (approve it, when it waits for an administrator)')
    .option('--no-wait', 'return once the apply is queued')
    .action(async (name: string, options: { plan?: string; wait: boolean }, command: Command) => {
      const api = await apiFor(command);
      const json = Boolean(globals(command).json);
      const apply = await api.post<Apply>(
        `${path(name)}/apply`,
        options.plan ? { planId: options.plan } : {},
      );
      say(json, `Apply ${apply.id} of "${name}" queued`);
      const done = options.wait ? await follow(api, name, apply, json) : apply;
      if (json) printObject(done as unknown as Record<string, unknown>, true);
      else if (options.wait)
        say(false, `"${name}" is applied and healthy (commit ${done.commit?.slice(0, 12) ?? '?'})`);
    });

  env
    .command('approve <name>')
    .description('Approve the plan waiting for an administrator of the environment, and apply it')
    .option('--plan <id>', 'the waiting plan (default: the newest one)')
    .option('--no-wait', 'return once the apply is queued')
    .action(async (name: string, options: { plan?: string; wait: boolean }, command: Command) => {
      const api = await apiFor(command);
      const json = Boolean(globals(command).json);
      const planId = options.plan ?? (await api.get<EnvironmentView>(path(name))).waitingPlan?.id;
      if (!planId) {
        throw new SlipwayError(ErrorCode.NotFound, `No plan of "${name}" waits for approval`, {
          hint: `Plan it with \`slipway env plan ${name}\`, or apply the head of the branch with \`slipway env apply ${name}\``,
        });
      }
      const apply = await api.post<Apply>(`${path(name)}/apply`, { planId });
      say(json, `Approved plan ${planId}: apply ${apply.id} of "${name}" queued`);
      const done = options.wait ? await follow(api, name, apply, json) : apply;
      if (json) printObject(done as unknown as Record<string, unknown>, true);
      else if (options.wait) say(false, `"${name}" is applied and healthy`);
    });

  env
    .command('show <name>')
    .description('Show an environment: hosts, agents, processes, health, load balancer, database, last apply')
    .action(async (name: string, _options: unknown, command: Command) => {
      const view = await (await apiFor(command)).get<EnvironmentView>(path(name));
      if (globals(command).json) printObject(view as unknown as Record<string, unknown>, true);
      else printView(view);
    });

  env
    .command('destroy <name>')
    .description(
      'Destroy an environment: every host, process, port and directory, its load balancer and database',
    )
    .option('--yes', 'do not ask for confirmation')
    .option('--no-wait', 'return once the destroy is queued')
    .action(async (name: string, options: { yes?: boolean; wait: boolean }, command: Command) => {
      const api = await apiFor(command);
      const json = Boolean(globals(command).json);
      if (!options.yes) {
        const answer = (
          await ask(`Destroy "${name}" and everything in it? Type the environment's name to confirm: `)
        ).trim();
        if (answer !== name)
          throw new InvalidInputError(`Not destroying "${name}": the confirmation did not match`, {
            hint: 'Type the name exactly, or pass --yes',
          });
      }
      const apply = await api.post<Apply>(`${path(name)}/destroy`, { confirm: name });
      say(json, `Destroy ${apply.id} of "${name}" queued`);
      const done = options.wait ? await follow(api, name, apply, json) : apply;
      if (json) printObject(done as unknown as Record<string, unknown>, true);
      else if (options.wait)
        say(false, `"${name}" is destroyed: no host, process, port or directory is left`);
    });

  env
    .command('plans <name>')
    .description("List an environment's plans")
    .action(async (name: string, _options: unknown, command: Command) => {
      const plans = await (await apiFor(command)).get<Plan[]>(`${path(name)}/plans`);
      printTable(
        plans.map((p) => ({
          id: p.id,
          status: p.status,
          kind: p.kind,
          trigger: p.trigger,
          by: p.createdBy,
          commit: p.commit?.slice(0, 12),
          changes: `+${p.summary.create} ~${p.summary.update} -${p.summary.delete}`,
          at: p.createdAt,
        })),
        ['id', 'status', 'kind', 'trigger', 'by', 'commit', 'changes', 'at'],
        Boolean(globals(command).json),
        plans,
      );
    });

  env
    .command('history <name>')
    .description("List an environment's applies, with the repository commit each applied")
    .action(async (name: string, _options: unknown, command: Command) => {
      const applies = await (await apiFor(command)).get<Apply[]>(`${path(name)}/applies`);
      printTable(
        applies.map((a) => ({
          id: a.id,
          status: a.status,
          by: a.requestedBy,
          commit: a.commit?.slice(0, 12),
          requested: a.requestedAt,
          finished: a.finishedAt,
          error: a.error,
        })),
        ['id', 'status', 'by', 'commit', 'requested', 'finished', 'error'],
        Boolean(globals(command).json),
        applies,
      );
    });

  const source = env.command('source').description('The infrastructure repository Slipway tracks (GitOps)');
  source
    .command('show')
    .description('Show the tracked repository and the outcome of its last check')
    .action(async (_options: unknown, command: Command) => {
      const current = await (await apiFor(command)).get<Record<string, unknown> | null>(
        '/api/environment-source',
      );
      if (!current) return say(Boolean(globals(command).json), 'No infrastructure repository is tracked');
      printObject(current, Boolean(globals(command).json));
    });
  source
    .command('set <url>')
    .description('Track a repository (an absolute path or a git URL) and a branch')
    .option('--branch <branch>', 'the branch merges land on', 'main')
    .option('--poll-interval <duration>', 'how often to check it, like "30s"', '30s')
    .action(async (url: string, options: { branch: string; pollInterval: string }, command: Command) => {
      const result = await (await apiFor(command)).request<Record<string, unknown>>(
        'PUT',
        '/api/environment-source',
        {
          url,
          branch: options.branch,
          pollInterval: options.pollInterval,
        },
      );
      printObject(result, Boolean(globals(command).json));
    });
  source
    .command('check')
    .description('Check the tracked branch now (what a merge hook calls)')
    .action(async (_options: unknown, command: Command) => {
      await (await apiFor(command)).post('/api/environment-source/check');
      say(Boolean(globals(command).json), 'The tracked branch is checked within a second');
    });
}
