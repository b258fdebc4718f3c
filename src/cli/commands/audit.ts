import type { Command } from 'commander';
import { SlipwayError } from '../../core/index.ts';
import { query } from '../api-client.ts';
import { apiFor, globals } from '../context.ts';
import { printObject, printTable } from '../output.ts';

interface Entry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  sourceIp: string | null;
}

interface Verification {
  ok: boolean;
  checked: number;
  headId: number;
  problem?: { entryId: number; kind: string; message: string };
}

/** Raised when the chain is broken, so the CLI exits non-zero with the entry named. */
export class AuditChainBrokenError extends SlipwayError {
  constructor(readonly verification: Verification) {
    super('CONFLICT', verification.problem?.message ?? 'The audit chain is broken', {
      hint: 'Restore the audit log from a backup, and find out who could write to the database',
      details: verification.problem,
      retryable: false,
    });
  }
}

/** audit list, audit verify, status. */
export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('Read and verify the tamper-evident audit log');
  audit
    .command('list')
    .description('List audit entries, newest first')
    .option('--actor <name>', 'only this actor')
    .option('--action <action>', 'only this action ("users.create"), or a prefix ending in "." ("users.")')
    .option('--target <target>', 'only this target ("user:alice")')
    .option('--outcome <outcome>', 'success, failure or denied')
    .option('--since <time>', 'ISO time, like 2026-11-26T00:00:00Z')
    .option('--limit <n>', 'how many', '50')
    .action(async (options: Record<string, string | undefined>, command: Command) => {
      const list = await (await apiFor(command)).get<Entry[]>(
        `/api/audit${query({
          actor: options.actor,
          action: options.action,
          target: options.target,
          outcome: options.outcome,
          since: options.since,
          limit: options.limit,
        })}`,
      );
      printTable(
        list as unknown as Record<string, unknown>[],
        ['id', 'at', 'actor', 'action', 'target', 'outcome', 'sourceIp'],
        Boolean(globals(command).json),
      );
    });
  audit
    .command('verify')
    .description('Walk the hash chain; exits non-zero naming the first edited, deleted or reordered entry')
    .action(async (_o: unknown, command: Command) => {
      const result = await (await apiFor(command)).get<Verification>('/api/audit/verify');
      if (globals(command).json) printObject(result as unknown as Record<string, unknown>, true);
      if (!result.ok) throw new AuditChainBrokenError(result);
      if (!globals(command).json)
        process.stdout.write(
          `Audit chain intact: ${result.checked} entries verified (head ${result.headId})\n`,
        );
    });

  program
    .command('status')
    .description('Show the platform status')
    .action(async (_o: unknown, command: Command) => {
      const status = await (await apiFor(command)).get<Record<string, unknown>>('/api/status');
      printObject(status, Boolean(globals(command).json));
    });
}
