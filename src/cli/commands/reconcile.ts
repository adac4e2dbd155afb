// `silo reconcile [--fix]`: what a crash or a lost server left behind, and servers that cannot be
// reached (operations/reconcile/reconcile.ts).
import type { Command } from 'commander';
import { reconcile } from '../../operations/reconcile/reconcile.ts';
import { parsePositiveInt } from '../arguments.ts';
import { printJson, printLine, printTable } from '../output.ts';
import { CliError, EXIT, type CliRuntime } from '../runtime.ts';

interface ReconcileCliOptions {
  fix?: boolean;
  stuckAfterMinutes: number;
  json?: boolean;
}

export function registerReconcileCommand(program: Command, cli: CliRuntime): void {
  program
    .command('reconcile')
    .description(
      'find companies stuck in provisioning, databases or roles no company owns, servers (postgres or neon) that cannot be reached, stored files no row names, and what failed or interrupted moves, restores and forced deletes left; with --fix, undo and drop them',
    )
    .option('--fix', 'repair what is found: stuck companies are undone and marked failed, orphans are dropped, unreferenced files removed')
    .option('--stuck-after-minutes <n>', 'a company provisioning for longer than this is stuck', parsePositiveInt(100_000), 10)
    .option('--json', 'print one JSON document: { fix, findings, unfixed }')
    .addHelpText(
      'after',
      '\nExit status: 0 when nothing is left to repair (nothing found, or everything found was fixed);\n' +
        '1 when findings remain: without --fix, any finding; with --fix, any that could not be fixed\n' +
        '(an unreachable server is never fixed here).',
    )
    .action(async (options: ReconcileCliOptions) => {
      const fix = options.fix === true;
      const findings = await cli.withSilo((ctx) => reconcile(ctx, { fix, stuckAfterMs: options.stuckAfterMinutes * 60_000, actor: 'cli' }));
      const unfixed = findings.filter((f) => !f.fixed).length;
      if (options.json) {
        printJson(cli.stdout, { fix, findings, unfixed });
      } else if (findings.length === 0) {
        printLine(cli.stdout, 'nothing to reconcile');
      } else {
        printTable(
          cli.stdout,
          ['KIND', 'NAME', 'SERVER', 'FIXED', 'ERROR'],
          findings.map((f) => [f.kind, f.name, f.serverId, f.fixed, f.error]),
        );
      }
      if (unfixed === 0) return;
      const counted = `${unfixed} finding${unfixed === 1 ? '' : 's'}`;
      throw new CliError(fix ? `${counted} could not be fixed` : `${counted}; "silo reconcile --fix" repairs what it can`, EXIT.failed);
    });
}
