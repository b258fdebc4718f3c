import { hostname } from 'node:os';
import type { Command } from 'commander';
import { InvalidInputError } from '../../core/index.ts';
import { ApiClient, query } from '../api-client.ts';
import { readCliConfig, removeCliConfig, writeCliConfig } from '../cli-config.ts';
import { apiFor, DEFAULT_SERVER, globals } from '../context.ts';
import { printObject, printTable, say } from '../output.ts';
import { ask, readPassword } from '../prompt.ts';

interface User {
  username: string;
  displayName: string | null;
  email: string | null;
  isDisabled: boolean;
  groups: string[];
  createdAt: string;
  lastLoginAt: string | null;
}

function userRow(u: User) {
  return {
    username: u.username,
    status: u.isDisabled ? 'disabled' : 'active',
    groups: u.groups,
    email: u.email,
    lastLogin: u.lastLoginAt,
  };
}

/** login, logout, whoami, users, groups, roles, tokens. */
export function registerIdentityCommands(program: Command): void {
  program
    .command('login')
    .description('Log in and remember an API token for this server')
    .option('-u, --username <name>', 'your username (asked when missing)')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (options: { username?: string; passwordStdin?: boolean }, command: Command) => {
      const flags = globals(command);
      const server =
        flags.server ?? process.env.SLIPWAY_URL ?? (await readCliConfig())?.server ?? DEFAULT_SERVER;
      const username = options.username ?? (await ask('Username: ')).trim();
      const password = await readPassword(options);
      const result = await new ApiClient({ server }).post<{
        value: string;
        token: { id: string; expiresAt: string };
        username: string;
      }>('/api/auth/token', { username, password, name: `cli@${hostname()}`.slice(0, 100) });
      await writeCliConfig({
        server,
        token: result.value,
        tokenId: result.token.id,
        username: result.username,
      });
      say(
        Boolean(flags.json),
        `Logged in to ${server} as ${result.username} (token expires ${result.token.expiresAt})`,
      );
      if (flags.json)
        printObject({ server, username: result.username, expiresAt: result.token.expiresAt }, true);
    });

  program
    .command('logout')
    .description('Revoke the remembered API token and forget it')
    .action(async (_options: unknown, command: Command) => {
      const file = await readCliConfig();
      if (!file) {
        say(Boolean(globals(command).json), 'Not logged in');
        return;
      }
      if (file.tokenId) {
        const api = await apiFor(command);
        await api.delete(`/api/tokens/${file.tokenId}`).catch(() => undefined);
      }
      await removeCliConfig();
      say(Boolean(globals(command).json), `Logged out of ${file.server}`);
    });

  program
    .command('whoami')
    .description('Show who you are and which roles you hold')
    .action(async (_options: unknown, command: Command) => {
      const me = await (await apiFor(command)).get<{
        username: string;
        via: string;
        groups: string[];
        grants: { role: string; scope: string; viaGroup?: string }[];
      }>('/api/whoami');
      const json = Boolean(globals(command).json);
      if (json) return printObject(me, true);
      printObject({ username: me.username, via: me.via, groups: me.groups.join(', ') || '-' }, false);
      printTable(
        me.grants.map((g) => ({
          role: g.role,
          scope: g.scope,
          via: g.viaGroup ? `group:${g.viaGroup}` : 'direct',
        })),
        ['role', 'scope', 'via'],
        false,
      );
    });

  const users = program.command('users').description('Manage users');
  users
    .command('list')
    .description('List users')
    .action(async (_o: unknown, command: Command) => {
      const list = await (await apiFor(command)).get<User[]>('/api/users');
      printTable(
        list.map(userRow),
        ['username', 'status', 'groups', 'email', 'lastLogin'],
        Boolean(globals(command).json),
        list,
      );
    });
  users
    .command('show <username>')
    .description('Show a user')
    .action(async (username: string, _o: unknown, command: Command) => {
      const user = await (await apiFor(command)).get<User>(`/api/users/${encodeURIComponent(username)}`);
      printObject(user as unknown as Record<string, unknown>, Boolean(globals(command).json));
    });
  users
    .command('create <username>')
    .description('Create a user (the password is asked for, or read with --password-stdin)')
    .option('--email <email>', 'email address, for notifications')
    .option('--display-name <name>', 'full name')
    .option('--password-stdin', 'read the password from standard input')
    .action(
      async (
        username: string,
        options: { email?: string; displayName?: string; passwordStdin?: boolean },
        command: Command,
      ) => {
        const password = await readPassword(options, `Password for ${username}: `);
        const user = await (await apiFor(command)).post<User>('/api/users', {
          username,
          password,
          ...(options.email ? { email: options.email } : {}),
          ...(options.displayName ? { displayName: options.displayName } : {}),
        });
        const json = Boolean(globals(command).json);
        if (json) printObject(user as unknown as Record<string, unknown>, true);
        else say(false, `Created user ${user.username}`);
      },
    );
  for (const [verb, description] of [
    ['disable', 'Disable a user: their sessions end and their tokens stop working'],
    ['enable', 'Enable a disabled user'],
  ] as const) {
    users
      .command(`${verb} <username>`)
      .description(description)
      .action(async (username: string, _o: unknown, command: Command) => {
        const user = await (await apiFor(command)).post<User>(
          `/api/users/${encodeURIComponent(username)}/${verb}`,
        );
        const json = Boolean(globals(command).json);
        if (json) printObject(user as unknown as Record<string, unknown>, true);
        else say(false, `User ${user.username} is ${user.isDisabled ? 'disabled' : 'enabled'}`);
      });
  }
  users
    .command('set-password <username>')
    .description("Set a user's password (ends their sessions)")
    .option('--password-stdin', 'read the password from standard input')
    .action(async (username: string, options: { passwordStdin?: boolean }, command: Command) => {
      const password = await readPassword(options, `New password for ${username}: `);
      await (await apiFor(command)).post(`/api/users/${encodeURIComponent(username)}/password`, { password });
      say(Boolean(globals(command).json), `Password of ${username} changed`);
    });

  interface Group {
    name: string;
    description: string | null;
    members: string[];
  }
  const groups = program.command('groups').description('Manage groups');
  groups
    .command('list')
    .description('List groups')
    .action(async (_o: unknown, command: Command) => {
      const list = await (await apiFor(command)).get<Group[]>('/api/groups');
      printTable(
        list as unknown as Record<string, unknown>[],
        ['name', 'members', 'description'],
        Boolean(globals(command).json),
      );
    });
  groups
    .command('show <name>')
    .description('Show a group and its members')
    .action(async (name: string, _o: unknown, command: Command) => {
      const group = await (await apiFor(command)).get<Group>(`/api/groups/${encodeURIComponent(name)}`);
      printObject(group as unknown as Record<string, unknown>, Boolean(globals(command).json));
    });
  groups
    .command('create <name>')
    .description('Create a group')
    .option('--description <text>', 'what the group is for')
    .action(async (name: string, options: { description?: string }, command: Command) => {
      const group = await (await apiFor(command)).post<Group>('/api/groups', {
        name,
        ...(options.description ? { description: options.description } : {}),
      });
      say(Boolean(globals(command).json), `Created group ${group.name}`);
      if (globals(command).json) printObject(group as unknown as Record<string, unknown>, true);
    });
  groups
    .command('delete <name>')
    .description('Delete a group with its memberships and role bindings')
    .action(async (name: string, _o: unknown, command: Command) => {
      await (await apiFor(command)).delete(`/api/groups/${encodeURIComponent(name)}`);
      say(Boolean(globals(command).json), `Deleted group ${name}`);
    });
  groups
    .command('add-member <group> <username>')
    .description('Add a user to a group')
    .action(async (group: string, username: string, _o: unknown, command: Command) => {
      await (await apiFor(command)).post(`/api/groups/${encodeURIComponent(group)}/members`, { username });
      say(Boolean(globals(command).json), `Added ${username} to ${group}`);
    });
  groups
    .command('remove-member <group> <username>')
    .description('Remove a user from a group')
    .action(async (group: string, username: string, _o: unknown, command: Command) => {
      await (await apiFor(command)).delete(
        `/api/groups/${encodeURIComponent(group)}/members/${encodeURIComponent(username)}`,
      );
      say(Boolean(globals(command).json), `Removed ${username} from ${group}`);
    });

  interface Binding {
    subject: string;
    role: string;
    scope: string;
    createdBy: string | null;
    createdAt: string;
  }
  const roles = program
    .command('roles')
    .description(
      'Grant and revoke roles (viewer < developer < deployer < admin) on the platform or an environment',
    );
  roles
    .command('grant <subject> <role>')
    .description('Grant ROLE to SUBJECT ("user:NAME" or "group:NAME")')
    .option('--scope <scope>', '"platform" or "environment:NAME"', 'platform')
    .action(async (subject: string, role: string, options: { scope: string }, command: Command) => {
      await (await apiFor(command)).post('/api/role-bindings', { subject, role, scope: options.scope });
      say(Boolean(globals(command).json), `Granted ${role} on ${options.scope} to ${subject}`);
    });
  roles
    .command('revoke <subject> <role>')
    .description('Revoke ROLE from SUBJECT')
    .option('--scope <scope>', '"platform" or "environment:NAME"', 'platform')
    .action(async (subject: string, role: string, options: { scope: string }, command: Command) => {
      await (await apiFor(command)).post('/api/role-bindings/revoke', {
        subject,
        role,
        scope: options.scope,
      });
      say(Boolean(globals(command).json), `Revoked ${role} on ${options.scope} from ${subject}`);
    });
  roles
    .command('list')
    .description('List role bindings')
    .option('--subject <subject>', 'only this "user:NAME" or "group:NAME"')
    .option('--scope <scope>', 'only this scope')
    .action(async (options: { subject?: string; scope?: string }, command: Command) => {
      const list = await (await apiFor(command)).get<Binding[]>(
        `/api/role-bindings${query({ subject: options.subject, scope: options.scope })}`,
      );
      printTable(
        list as unknown as Record<string, unknown>[],
        ['subject', 'role', 'scope', 'createdBy', 'createdAt'],
        Boolean(globals(command).json),
      );
    });

  interface Token {
    id: string;
    name: string;
    createdAt: string;
    expiresAt: string | null;
    lastUsedAt: string | null;
    revokedAt: string | null;
  }
  const tokens = program.command('tokens').description('Manage your personal API tokens');
  tokens
    .command('create <name>')
    .description('Create a token; its value is printed once')
    .option('--expires-in-days <days>', 'days until it expires (default: never)')
    .action(async (name: string, options: { expiresInDays?: string }, command: Command) => {
      const days = options.expiresInDays === undefined ? undefined : Number(options.expiresInDays);
      if (days !== undefined && (!Number.isInteger(days) || days < 1)) {
        throw new InvalidInputError(
          `Cannot read --expires-in-days "${options.expiresInDays}": expected a whole number of days`,
          {
            hint: 'Use a number like 30',
          },
        );
      }
      const result = await (await apiFor(command)).post<{ token: Token; value: string }>('/api/tokens', {
        name,
        ...(days ? { expiresInDays: days } : {}),
      });
      if (globals(command).json) return printObject(result, true);
      process.stderr.write(
        `Created token ${result.token.id} (${name}). Copy it now; it is not shown again:\n`,
      );
      process.stdout.write(`${result.value}\n`);
    });
  tokens
    .command('list')
    .description('List your tokens')
    .action(async (_o: unknown, command: Command) => {
      const list = await (await apiFor(command)).get<Token[]>('/api/tokens');
      printTable(
        list.map((t) => ({
          ...t,
          status: t.revokedAt
            ? 'revoked'
            : t.expiresAt && new Date(t.expiresAt) < new Date()
              ? 'expired'
              : 'active',
        })),
        ['id', 'name', 'status', 'expiresAt', 'lastUsedAt'],
        Boolean(globals(command).json),
        list,
      );
    });
  tokens
    .command('revoke <id>')
    .description('Revoke one of your tokens')
    .action(async (id: string, _o: unknown, command: Command) => {
      await (await apiFor(command)).delete(`/api/tokens/${encodeURIComponent(id)}`);
      say(Boolean(globals(command).json), `Revoked token ${id}`);
    });
}
