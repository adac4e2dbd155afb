// `silo fleet query "<sql>"`: one read-only statement over many companies (the fan-out behind POST
// /api/fleet/query). People get a progress bar (on a terminal) and one merged table with the company
// first; --json prints the NDJSON lines as companies finish; --csv one CSV with a `company` column.
// Exit status 0 only when no queried company failed (skipped ones are listed on stderr).
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { type FleetLine, fleetQuery, DEFAULT_FLEET_CONCURRENCY } from '../../operations/querying/fleet-query.ts';
import { type FleetSuccess, fleetCsv, mergeFleetRows } from '../../operations/querying/fleet-rows.ts';
import { parsePositiveInt, parseSlug } from '../arguments.ts';
import { printLine, printTable } from '../output.ts';
import { CliError, EXIT, type CliRuntime, usageError } from '../runtime.ts';

const collectSlugs = (value: string, previous: string[] = []) => [...previous, ...value.split(',').map((s) => parseSlug(s.trim()))];

interface QueryOptions {
  only?: string[];
  exclude?: string[];
  concurrency: number;
  timeoutMs?: number;
  maxRows?: number;
  json?: boolean;
  csv?: boolean;
}

export function registerFleetCommands(program: Command, cli: CliRuntime): void {
  const fleet = program.command('fleet').description('work across many companies at once');

  fleet
    .command('query')
    .description("run one read-only SQL statement on every company's database (or --only / --exclude), as each company's own role")
    .argument('<sql>', 'one SQL statement')
    .option('--only <slugs>', 'only these companies (comma-separated, repeatable)', collectSlugs)
    .option('--exclude <slugs>', 'all but these companies (comma-separated, repeatable)', collectSlugs)
    .option(
      '--concurrency <n>',
      'companies queried at once (each server also takes at most its pool-map share)',
      parsePositiveInt(256),
      DEFAULT_FLEET_CONCURRENCY,
    )
    .option('--timeout-ms <n>', 'statement timeout per company (at most SILO_SQL_STATEMENT_TIMEOUT_MS)', parsePositiveInt(600_000))
    .option('--max-rows <n>', 'rows per company (at most SILO_SQL_MAX_ROWS)', parsePositiveInt(100_000))
    .option('--json', 'print one JSON line per company as it finishes, then a summary line (NDJSON)')
    .option('--csv', 'print every row as CSV, with a company column first')
    .addHelpText(
      'after',
      '\nSuspended, archived, provisioning and moving companies are skipped and listed as skipped.\nExit status: 0 when no queried company failed.',
    )
    .action(async (sql: string, options: QueryOptions) => {
      if (options.json && options.csv) throw usageError('--json and --csv cannot be used together');
      const live = !options.json && !options.csv && (cli.stderr as { isTTY?: boolean }).isTTY === true;
      const bar = live ? new SingleBar({ format: 'querying [{bar}] {value}/{total} companies | failed {failed}' }) : undefined;
      const succeeded: FleetSuccess[] = [];
      const problems: string[] = [];
      let summary: Extract<FleetLine, { summary: unknown }>['summary'] | undefined;
      try {
        await cli.withSilo(async (ctx) => {
          const { companies, lines } = await fleetQuery(ctx, { sql, ...options });
          bar?.start(companies, 0, { failed: 0 });
          let done = 0;
          for await (const line of lines) {
            if (options.json) printLine(cli.stdout, JSON.stringify(line));
            if ('summary' in line) {
              summary = line.summary;
              continue;
            }
            done++;
            if (line.ok) succeeded.push(line);
            else problems.push(`${'skipped' in line ? 'skipped' : 'failed'}: ${line.company.slug}: ${line.error.message}`);
            bar?.update(done, { failed: problems.length });
          }
        });
      } finally {
        bar?.stop();
      }
      if (!options.json) {
        if (options.csv) cli.stdout.write(fleetCsv(succeeded));
        else {
          const { headers, rows } = mergeFleetRows(succeeded);
          printTable(cli.stdout, headers, rows);
        }
        for (const problem of problems) printLine(cli.stderr, problem);
      }
      if (summary && summary.failed > 0) {
        throw new CliError(`${summary.failed} of ${summary.companies} companies failed`, EXIT.failed);
      }
    });
}
