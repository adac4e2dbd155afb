// `silo companies show | suspend | activate | stats | logs`: one company looked at or switched on
// and off, through the same service functions as GET/PATCH /api/companies/:company and its
// /stats and /logs.
import type { Command } from 'commander';
import { companyLogs, companyStats, updateCompany } from '../../operations/companies.ts';
import { getCompany, toCompanyView } from '../../control-plane/company-records.ts';
import { parsePositiveInt } from '../arguments.ts';
import { printJson, printLine, printTable, shortTime } from '../output.ts';
import type { CliRuntime } from '../runtime.ts';

const COMPANY = ['<company>', 'the company: its slug or id'] as const;

export function registerCompanyOperationCommands(companies: Command, cli: CliRuntime): void {
  companies
    .command('show')
    .description('one company: status, server, database, schema version, last error (never its credentials)')
    .argument(...COMPANY)
    .option('--json', 'print one JSON document')
    .action(async (ref: string, options: { json?: boolean }) => {
      const view = toCompanyView(await cli.withSilo((ctx) => getCompany(ctx, ref)));
      if (options.json) return printJson(cli.stdout, view);
      printTable(
        cli.stdout,
        ['field', 'value'],
        Object.entries(view).map(([field, value]) => [field, typeof value === 'object' && value !== null ? JSON.stringify(value) : value]),
      );
    });

  for (const [name, status, done] of [
    ['suspend', 'suspended', 'suspended: its users get 403 company_suspended'],
    ['activate', 'active', 'active again'],
  ] as const) {
    companies
      .command(name)
      .description(name === 'suspend' ? "refuse the company's users at once (its data stays)" : 'serve a suspended company again')
      .argument(...COMPANY)
      .option('--json', 'print one JSON document')
      .action(async (ref: string, options: { json?: boolean }) => {
        const view = toCompanyView(await cli.withSilo((ctx) => updateCompany(ctx, ref, { status }, 'cli')));
        if (options.json) return printJson(cli.stdout, view);
        printLine(cli.stdout, `company ${view.slug} is ${done}`);
      });
  }

  companies
    .command('stats')
    .description("the company's database: size, rows per table, users, documents, open connections")
    .argument(...COMPANY)
    .option('--json', 'print one JSON document')
    .action(async (ref: string, options: { json?: boolean }) => {
      const stats = await cli.withSilo((ctx) => companyStats(ctx, ref));
      if (options.json) return printJson(cli.stdout, stats);
      printLine(
        cli.stdout,
        `${(stats.databaseSizeBytes / 1e6).toFixed(1)} MB, ${stats.users} users, ${stats.documents} documents, ${stats.openConnections} open connections`,
      );
      printTable(
        cli.stdout,
        ['table', 'rows'],
        Object.entries(stats.rowsPerTable).map(([table, rows]) => [table, rows]),
      );
    });

  companies
    .command('logs')
    .description("the company's database operation log (create, migrate, move, delete ...), newest first")
    .argument(...COMPANY)
    .option('--limit <n>', 'entries to show, at most 200', parsePositiveInt(200), 50)
    .option('--cursor <cursor>', 'the nextCursor of an earlier page')
    .option('--json', 'print one JSON document: { items, nextCursor }')
    .action(async (ref: string, options: { limit: number; cursor?: string; json?: boolean }) => {
      const page = await cli.withSilo((ctx) => companyLogs(ctx, ref, options.limit, options.cursor));
      if (options.json) return printJson(cli.stdout, page);
      printTable(
        cli.stdout,
        ['when', 'action', 'status', 'actor', 'ms', 'error'],
        page.items.map((e) => [shortTime(e.createdAt), e.action, e.status, e.actor, e.durationMs, e.error]),
      );
      if (page.nextCursor) printLine(cli.stdout, `more: --cursor ${page.nextCursor}`);
    });
}
