// `silo demo`: creates (or completes) the demo companies and prints their logins once
// (operations/demo/demo.ts). Running it again changes nothing and shows no password.
import type { Command } from 'commander';
import { ensureDemoCompanies } from '../../operations/demo/demo.ts';
import { printJson, printLine, printTable } from '../output.ts';
import type { CliRuntime } from '../runtime.ts';

export function registerDemoCommand(program: Command, cli: CliRuntime): void {
  program
    .command('demo')
    .description(
      'create the demo companies (techland, globaltrade, mobile, pharmacy, salon) with users, documents and a chat session; ' +
        'idempotent: prints the logins it creates, with generated passwords shown this once',
    )
    .option('--json', 'print one JSON document: { companies: [{ slug, name, outcome, reason?, logins }] }')
    .action(async (options: { json?: boolean }) => {
      const outcomes = await cli.withSilo((ctx) => ensureDemoCompanies(ctx, 'cli'));
      if (options.json) {
        printJson(cli.stdout, { companies: outcomes });
        return;
      }
      printTable(
        cli.stdout,
        ['COMPANY', 'OUTCOME', 'EMAIL', 'ROLE', 'PASSWORD'],
        outcomes.flatMap((o) =>
          o.logins.length === 0
            ? [[o.slug, o.reason ? `${o.outcome}: ${o.reason}` : o.outcome, '', '', '']]
            : o.logins.map((l) => [o.slug, o.outcome, l.email, l.role, l.password]),
        ),
      );
      if (outcomes.some((o) => o.logins.length > 0)) {
        printLine(cli.stdout, '\nThe passwords are shown only now. Log in with POST /api/auth/login { email, password, company }.');
      }
    });
}
