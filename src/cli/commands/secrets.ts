import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidInputError } from '../../core/index.ts';
import {
  generateRootKey,
  parseDotenv,
  SecretName,
  serializeDotenv,
  writeEnvFileAtomically,
} from '../../secrets/index.ts';
import { query } from '../api-client.ts';
import { apiFor, globals } from '../context.ts';
import { printObject, printTable, say } from '../output.ts';
import { askHidden, readStdin } from '../prompt.ts';

interface SecretSummary {
  name: string;
  version: number;
  fingerprint: string;
  updatedAt: string;
  updatedBy: string;
  reason: string | null;
  deletedAt: string | null;
}

interface SecretWrite {
  environment: string;
  name: string;
  version: number;
  setVersion: number;
  changed: boolean;
}

const path = (environment: string, ...rest: string[]) =>
  ['/api/secrets/environments', environment, ...rest]
    .map((part, i) => (i === 0 ? part : encodeURIComponent(part)))
    .join('/');

/** A secret from standard input when it is piped, else from a prompt that does not echo; never from argv. */
async function readSecretInput(question: string): Promise<string> {
  return process.stdin.isTTY ? askHidden(question) : readStdin();
}

/** `slipway secrets …`: the audited, versioned store of each environment's credentials. */
export function registerSecretsCommands(program: Command): void {
  const secrets = program
    .command('secrets')
    .description("Manage each environment's secrets (values never go on the command line)");

  secrets
    .command('status')
    .description('Show whether the secret store is sealed, and why')
    .action(async (_o: unknown, command: Command) => {
      const status = await (await apiFor(command)).get<Record<string, unknown>>('/api/secrets/status');
      printObject(status, Boolean(globals(command).json));
    });

  secrets
    .command('generate-root-key')
    .description('Make a new random root key (prints it, or writes it to a new 0600 file)')
    .option('--out <file>', 'write the key to this file (it must not exist)')
    .action(async (options: { out?: string }, command: Command) => {
      const key = generateRootKey();
      if (!options.out) {
        process.stdout.write(`${key}\n`);
        return;
      }
      if (
        await stat(options.out).then(
          () => true,
          () => false,
        )
      ) {
        throw new InvalidInputError(`Cannot write the root key: ${options.out} exists`, {
          hint: 'Choose a new file name; a root key file is never overwritten',
        });
      }
      await writeEnvFileAtomically(options.out, `${key}\n`);
      say(Boolean(globals(command).json), `Wrote a new root key to ${options.out} (mode 0600)`);
    });

  secrets
    .command('unseal')
    .description('Give the server its root key (read from standard input or asked for); platform admins only')
    .action(async (_o: unknown, command: Command) => {
      const rootKey = (await readSecretInput('Root key: ')).trim();
      const result = await (await apiFor(command)).post<{ rootKeyId: string; alreadyUnsealed: boolean }>(
        '/api/secrets/unseal',
        { rootKey },
      );
      const json = Boolean(globals(command).json);
      if (json) printObject(result as unknown as Record<string, unknown>, true);
      else
        say(
          false,
          result.alreadyUnsealed
            ? `Already unsealed (root key ${result.rootKeyId})`
            : `Unsealed with root key ${result.rootKeyId}`,
        );
    });

  secrets
    .command('rotate-root-key')
    .description(
      'Re-wrap every data key under a new root key; the current key is read from standard input or asked for',
    )
    .requiredOption(
      '--new-key-file <file>',
      'the new root key (made with `slipway secrets generate-root-key --out FILE`)',
    )
    .action(async (options: { newKeyFile: string }, command: Command) => {
      const newRootKey = (await readFile(options.newKeyFile, 'utf8')).trim();
      const currentRootKey = (await readSecretInput('Current root key: ')).trim();
      const result = await (await apiFor(command)).post<{
        rootKeyId: string;
        rewrapped: number;
        persisted: string;
      }>('/api/secrets/root-key/rotate', { currentRootKey, newRootKey });
      const json = Boolean(globals(command).json);
      if (json) return printObject(result as unknown as Record<string, unknown>, true);
      say(false, `Rotated the root key to ${result.rootKeyId}: re-wrapped ${result.rewrapped} keys`);
      say(
        false,
        result.persisted === 'file'
          ? 'The server replaced its root key file with the new key; the old key opens nothing now'
          : `Keep ${options.newKeyFile}: the server needs it (SLIPWAY_ROOT_KEY_FILE or \`slipway secrets unseal\`) after a restart`,
      );
    });

  secrets
    .command('rotate-data-key <environment>')
    .description(
      'Start using a new data key for an environment; older values are re-encrypted in the background',
    )
    .action(async (environment: string, _o: unknown, command: Command) => {
      const result = await (await apiFor(command)).post<{ dataKeyId: string; retired: number }>(
        path(environment, 'data-key', 'rotate'),
      );
      const json = Boolean(globals(command).json);
      if (json) printObject(result as unknown as Record<string, unknown>, true);
      else
        say(
          false,
          `New data key ${result.dataKeyId} for ${environment}; re-encrypting older values in the background`,
        );
    });

  secrets
    .command('list <environment>')
    .description("List an environment's secrets: names and metadata, never values")
    .option('--deleted', 'include deleted secrets')
    .action(async (environment: string, options: { deleted?: boolean }, command: Command) => {
      const result = await (await apiFor(command)).get<{ setVersion: number; secrets: SecretSummary[] }>(
        `${path(environment)}${query({ deleted: options.deleted ? 'true' : undefined })}`,
      );
      const json = Boolean(globals(command).json);
      if (!json) say(false, `Environment ${environment}, secret set version ${result.setVersion}`);
      printTable(
        result.secrets.map((s) => ({
          name: s.name,
          version: s.version,
          fingerprint: s.fingerprint,
          updated: s.updatedAt,
          by: s.updatedBy,
          status: s.deletedAt ? 'deleted' : 'live',
          reason: s.reason,
        })),
        ['name', 'version', 'fingerprint', 'updated', 'by', 'status', 'reason'],
        json,
        result,
      );
    });

  secrets
    .command('set <environment> <name>')
    .description('Set a secret: the value comes from standard input, or a prompt that does not echo it')
    .option('--reason <text>', 'why (shown in history and the audit log; never put a secret here)')
    .option('--allow-empty', 'accept an empty value')
    .action(
      async (
        environment: string,
        name: string,
        options: { reason?: string; allowEmpty?: boolean },
        command: Command,
      ) => {
        const value = await readSecretInput(`Value of ${name} in ${environment}: `);
        if (!value && !options.allowEmpty) {
          throw new InvalidInputError(`Cannot set ${name}: the value is empty`, {
            hint: 'Pipe the value in (printf %s "$VALUE" | slipway secrets set …), or add --allow-empty',
          });
        }
        const result = await (await apiFor(command)).post<SecretWrite>(path(environment, name), {
          value,
          ...(options.reason ? { reason: options.reason } : {}),
        });
        const json = Boolean(globals(command).json);
        if (json) return printObject(result as unknown as Record<string, unknown>, true);
        say(
          false,
          result.changed
            ? `Set ${name} in ${environment}: version ${result.version}, secret set version ${result.setVersion}`
            : `${name} in ${environment} already has this value (version ${result.version}); nothing changed`,
        );
      },
    );

  secrets
    .command('get <environment> <name>')
    .description("Print a secret's value (environment admins only; the read is audited)")
    .option('--at <version>', 'an older version (see `slipway secrets history`)')
    .action(async (environment: string, name: string, options: { at?: string }, command: Command) => {
      const result = await (await apiFor(command)).get<{ version: number; value: string }>(
        `${path(environment, name, 'value')}${query({ version: options.at })}`,
      );
      if (globals(command).json) return printObject(result as unknown as Record<string, unknown>, true);
      // Exactly the value when piped; a newline after it on a terminal.
      process.stdout.write(process.stdout.isTTY ? `${result.value}\n` : result.value);
    });

  secrets
    .command('history <environment> <name>')
    .description("Show a secret's versions: who, when, why (never values)")
    .action(async (environment: string, name: string, _o: unknown, command: Command) => {
      const result = await (await apiFor(command)).get<{
        versions: {
          version: number;
          origin: string;
          rolledBackFrom: number | null;
          createdAt: string;
          createdBy: string;
          reason: string | null;
          fingerprint: string;
          destroyed: boolean;
          current: boolean;
        }[];
      }>(path(environment, name));
      printTable(
        result.versions.map((v) => ({
          version: `${v.version}${v.current ? ' *' : ''}`,
          origin: v.rolledBackFrom ? `${v.origin} from ${v.rolledBackFrom}` : v.origin,
          fingerprint: v.destroyed ? 'destroyed' : v.fingerprint,
          created: v.createdAt,
          by: v.createdBy,
          reason: v.reason,
        })),
        ['version', 'origin', 'fingerprint', 'created', 'by', 'reason'],
        Boolean(globals(command).json),
        result,
      );
    });

  secrets
    .command('rollback <environment> <name>')
    .description('Make an older version current again (as a new version with its value)')
    .requiredOption('--to <version>', 'the version to go back to')
    .option('--reason <text>', 'why')
    .action(
      async (
        environment: string,
        name: string,
        options: { to: string; reason?: string },
        command: Command,
      ) => {
        const toVersion = Number(options.to);
        if (!Number.isInteger(toVersion) || toVersion < 1) {
          throw new InvalidInputError(`Cannot roll back to "${options.to}": give a version number`, {
            hint: `Run \`slipway secrets history ${environment} ${name}\` to see its versions`,
          });
        }
        const result = await (await apiFor(command)).post<SecretWrite>(path(environment, name, 'rollback'), {
          toVersion,
          ...(options.reason ? { reason: options.reason } : {}),
        });
        const json = Boolean(globals(command).json);
        if (json) return printObject(result as unknown as Record<string, unknown>, true);
        say(
          false,
          result.changed
            ? `Rolled ${name} in ${environment} back to the value of version ${toVersion}: now version ${result.version}, secret set version ${result.setVersion}`
            : `${name} in ${environment} already has the value of version ${toVersion}; nothing changed`,
        );
      },
    );

  secrets
    .command('delete <environment> <name>')
    .description('Delete a secret (restore brings it back)')
    .option('--reason <text>', 'why')
    .action(async (environment: string, name: string, options: { reason?: string }, command: Command) => {
      const result = await (await apiFor(command)).delete<{ setVersion: number }>(
        `${path(environment, name)}${query({ reason: options.reason })}`,
      );
      const json = Boolean(globals(command).json);
      if (json) printObject(result as unknown as Record<string, unknown>, true);
      else say(false, `Deleted ${name} from ${environment}: secret set version ${result.setVersion}`);
    });

  secrets
    .command('restore <environment> <name>')
    .description('Restore a deleted secret')
    .option('--reason <text>', 'why')
    .action(async (environment: string, name: string, options: { reason?: string }, command: Command) => {
      const result = await (await apiFor(command)).post<{ version: number; setVersion: number }>(
        path(environment, name, 'restore'),
        options.reason ? { reason: options.reason } : {},
      );
      const json = Boolean(globals(command).json);
      if (json) printObject(result as unknown as Record<string, unknown>, true);
      else
        say(
          false,
          `Restored ${name} in ${environment} (version ${result.version}): secret set version ${result.setVersion}`,
        );
    });

  secrets
    .command('import <environment> <file>')
    .description('Set every NAME=value of a .env file (or - for standard input) as one secret set version')
    .option('--reason <text>', 'why')
    .option('--replace', "also delete the environment's secrets the file does not name")
    .action(
      async (
        environment: string,
        file: string,
        options: { reason?: string; replace?: boolean },
        command: Command,
      ) => {
        const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
        const { entries, warnings } = parseDotenv(text);
        for (const warning of warnings) process.stderr.write(`Warning: ${warning}\n`);
        const problems = entries
          .filter((e) => !SecretName.safeParse(e.name).success)
          .map((e) => `line ${e.line}: ${e.name} is not a secret name`);
        const seen = new Map<string, number>();
        for (const entry of entries) {
          const first = seen.get(entry.name);
          if (first !== undefined)
            problems.push(`line ${entry.line}: ${entry.name} was already set on line ${first}`);
          else seen.set(entry.name, entry.line);
        }
        if (problems.length > 0) {
          throw new InvalidInputError(`Cannot import ${file}: ${problems.join('; ')}`, {
            hint: 'Secret names use uppercase letters, digits and "_" (like DB_PASSWORD), each once',
            details: problems,
          });
        }
        if (entries.length === 0)
          throw new InvalidInputError(`Cannot import ${file}: it sets nothing`, {
            hint: 'Give a file with NAME=value lines',
          });
        const result = await (await apiFor(command)).post<{
          setVersion: number;
          created: string[];
          updated: string[];
          unchanged: string[];
          deleted: string[];
        }>(path(environment, 'import'), {
          entries: entries.map(({ name, value }) => ({ name, value })),
          replace: Boolean(options.replace),
          ...(options.reason ? { reason: options.reason } : {}),
        });
        const json = Boolean(globals(command).json);
        if (json) return printObject(result as unknown as Record<string, unknown>, true);
        say(
          false,
          `Imported into ${environment}: ${result.created.length} created, ${result.updated.length} updated, ` +
            `${result.unchanged.length} unchanged, ${result.deleted.length} deleted; secret set version ${result.setVersion}`,
        );
      },
    );

  secrets
    .command('export <environment>')
    .description("Write an environment's current values as a .env file (environment admins only; audited)")
    .option('--out <file>', 'write to this file (mode 0600) instead of standard output')
    .action(async (environment: string, options: { out?: string }, command: Command) => {
      const result = await (await apiFor(command)).get<{
        setVersion: number;
        entries: { name: string; value: string }[];
      }>(path(environment, 'export'));
      const text = serializeDotenv(result.entries, {
        comment: `Exported from Slipway: environment ${environment}, secret set version ${result.setVersion}`,
      });
      if (!options.out) {
        process.stdout.write(text);
        return;
      }
      await writeEnvFileAtomically(options.out, text);
      process.stderr.write(
        `Wrote ${result.entries.length} secrets of ${environment} to ${options.out} (mode 0600)\n`,
      );
    });

  secrets
    .command('set-history <environment> [version]')
    .description("List an environment's secret set versions, or show one's members (what a release pins)")
    .action(async (environment: string, version: string | undefined, _o: unknown, command: Command) => {
      const api = await apiFor(command);
      const json = Boolean(globals(command).json);
      if (version !== undefined) {
        const set = await api.get<{ version: number; members: Record<string, number> }>(
          path(environment, 'sets', version),
        );
        if (json) return printObject(set as unknown as Record<string, unknown>, true);
        say(false, `Secret set version ${set.version} of ${environment}`);
        return printTable(
          Object.entries(set.members).map(([name, v]) => ({ name, version: v })),
          ['name', 'version'],
          false,
        );
      }
      const sets = await api.get<
        {
          version: number;
          createdAt: string;
          createdBy: string;
          reason: string | null;
          size: number;
          changes: { name: string; action: string }[];
        }[]
      >(path(environment, 'sets'));
      printTable(
        sets.map((s) => ({
          version: s.version,
          created: s.createdAt,
          by: s.createdBy,
          secrets: s.size,
          changes: s.changes.map((c) => `${c.action} ${c.name}`).join(', '),
          reason: s.reason,
        })),
        ['version', 'created', 'by', 'secrets', 'changes', 'reason'],
        json,
        sets,
      );
    });

  secrets
    .command('matrix')
    .description('Keys × environments: which environment lacks which key, and which hold equal values')
    .action(async (_o: unknown, command: Command) => {
      const matrix = await (await apiFor(command)).get<{
        environments: string[];
        keys: { name: string; cells: Record<string, { version: number } | null>; sameValue: string[][] }[];
      }>('/api/secrets/matrix');
      printTable(
        matrix.keys.map((key) => ({
          name: key.name,
          ...Object.fromEntries(
            matrix.environments.map((e) => [e, key.cells[e] ? `v${key.cells[e]!.version}` : 'MISSING']),
          ),
          'same value': key.sameValue.map((group) => group.join('=')).join('; '),
        })),
        ['name', ...matrix.environments, 'same value'],
        Boolean(globals(command).json),
        matrix,
      );
    });
}
