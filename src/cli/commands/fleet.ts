// `silo fleet query "<sql>"`: one read-only statement over many companies (the fan-out behind POST
// /api/fleet/query). People get a progress bar (on a terminal) and one merged table with the company
// first; --json prints the NDJSON lines as companies finish; --csv one CSV with a `company` column.
// Exit status 0 only when no queried company failed (skipped ones are listed on stderr).
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { stringify } from 'csv-stringify/sync';
import { type FleetLine, fleetQuery, DEFAULT_FLEET_CONCURRENCY } from '../../operations/querying/fleet-query.ts';
import { parsePositiveInt, parseSlug } from '../arguments.ts';
import { type Cell, printLine, printTable } from '../output.ts';
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

type Succeeded = Extract<FleetLine, { ok: true }>;

/** Every company's rows under one header: `company`, then each column name in the order first seen. */
function mergeRows(results: Succeeded[]): { headers: string[]; rows: unknown[][] } {
  const names: string[] = [];
  for (const result of results) for (const column of result.columns) if (!names.includes(column.name)) names.push(column.name);
  const rows = results.flatMap((result) => {
    const at = names.map((name) => result.columns.findIndex((c) => c.name === name));
    return result.rows.map((row) => [result.company.slug, ...at.map((i) => (i === -1 ? null : row[i]))]);
  });
  return { headers: ['company', ...names], rows };
}

/** A value as one table cell or CSV field: JSON for objects and arrays, ISO for dates. */
function flat(value: unknown): Cell {
  if (value instanceof Date) return value.toISOString();
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return value as Cell;
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
      const succeeded: Succeeded[] = [];
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
        const { headers, rows } = mergeRows(succeeded);
        if (options.csv) cli.stdout.write(stringify([headers, ...rows.map((row) => row.map(flat))]));
        else
          printTable(
            cli.stdout,
            headers,
            rows.map((row) => row.map(flat)),
          );
        for (const problem of problems) printLine(cli.stderr, problem);
      }
      if (summary && summary.failed > 0) {
        throw new CliError(`${summary.failed} of ${summary.companies} companies failed`, EXIT.failed);
      }
    });
}
