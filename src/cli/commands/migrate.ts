// `silo migrate status | plan | apply`: the fleet runner for deploys (migrations/fleet.ts). On a
// terminal, apply shows a progress bar with live done/failed counts; otherwise one plain line per
// company; --json prints one document at the end for CI. Exit status 0 only when every targeted
// company is on the latest version.
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { fleetStatus, fleetSucceeded, migrateFleet, plannedMigrations, selectFleet } from '../../operations/migrations/fleet.ts';
import { parsePositiveInt, parseSlug } from '../arguments.ts';
import { printJson, printLine, printTable } from '../output.ts';
import { CliError, EXIT, type CliRuntime } from '../runtime.ts';

const collectSlugs = (value: string, previous: string[] = []) => [...previous, ...value.split(',').map((s) => parseSlug(s.trim()))];

interface SelectionOptions {
  only?: string[];
  exclude?: string[];
  json?: boolean;
}

interface ApplyOptions extends SelectionOptions {
  concurrency: number;
  canary?: number;
  maxFailures?: number;
  dryRun?: boolean;
  skipUnreachable?: boolean;
}

export function registerMigrateCommands(program: Command, cli: CliRuntime): void {
  const migrate = program.command('migrate').description('tenant schema migrations across the fleet');

  migrate
    .command('status')
    .description('how many companies are on each tenant schema version, and which failed')
    .option('--json', 'print one JSON document')
    .action(async (options: { json?: boolean }) => {
      const status = await cli.withSilo((ctx) => fleetStatus(ctx));
      if (options.json) return printJson(cli.stdout, status);
      printLine(cli.stdout, `latest tenant schema: ${status.latest ?? '(none)'}; behind: ${status.behind}`);
      printTable(
        cli.stdout,
        ['VERSION', 'COMPANIES'],
        status.versions.map((v) => [`${v.version ?? '(none)'}${v.version === status.latest ? ' (latest)' : ''}`, v.companies]),
      );
      if (status.failed.length > 0) {
        printLine(cli.stdout, '\nlast migration failed:');
        printTable(
          cli.stdout,
          ['COMPANY', 'VERSION', 'ERROR'],
          status.failed.map((f) => [f.slug, f.version, f.error]),
        );
      }
    });

  migrate
    .command('plan')
    .description('which migrations each company would get, from the versions the management database records')
    .option('--only <slugs>', 'only these companies (comma-separated, repeatable)', collectSlugs)
    .option('--exclude <slugs>', 'all but these companies (comma-separated, repeatable)', collectSlugs)
    .option('--json', 'print one JSON document')
    .action(async (options: SelectionOptions) => {
      const plan = await cli.withSilo(async (ctx) =>
        (await selectFleet(ctx, options)).map((c) => ({ slug: c.slug, version: c.schemaVersion, pending: plannedMigrations(ctx, c) })),
      );
      const behind = plan.filter((p) => p.pending.length > 0);
      if (options.json) return printJson(cli.stdout, { companies: plan.length, behind: behind.length, plan: behind });
      if (behind.length === 0) return printLine(cli.stdout, `all ${plan.length} companies are current`);
      printTable(
        cli.stdout,
        ['COMPANY', 'VERSION', 'PENDING'],
        behind.map((p) => [p.slug, p.version, p.pending.join(', ')]),
      );
      printLine(cli.stdout, `${behind.length} of ${plan.length} companies are behind`);
    });

  migrate
    .command('apply')
    .description('migrate every targeted company to the latest tenant schema (templates first)')
    .option(
      '--concurrency <n>',
      'companies migrated at once (each server also takes at most a quarter of its pool budget)',
      parsePositiveInt(256),
      8,
    )
    .option('--canary <n>', 'migrate this many companies first, and stop if any of them fails', parsePositiveInt(100_000))
    .option('--max-failures <n>', 'stop scheduling after this many failures', parsePositiveInt(1_000_000))
    .option('--only <slugs>', 'only these companies (comma-separated, repeatable)', collectSlugs)
    .option('--exclude <slugs>', 'all but these companies (comma-separated, repeatable)', collectSlugs)
    .option('--dry-run', 'connect to each company and report what is pending, without applying anything')
    .option('--skip-unreachable', 'leave out companies whose server does not answer now, and say how many (they do not fail the run)')
    .option('--json', 'print one JSON document at the end (for CI)')
    .addHelpText(
      'after',
      '\nCtrl-C stops scheduling; migrations already running finish (each migration is its own\n' +
        'transaction), so every company stays on a whole version and a re-run finishes the job.\n' +
        'Exit status: 0 only when every targeted company is on the latest version (a dry run: when\n' +
        'nothing failed to answer).',
    )
    .action(async (options: ApplyOptions) => {
      const interrupt = new AbortController();
      const onSignal = () => interrupt.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const live = !options.json && (cli.stdout as { isTTY?: boolean }).isTTY === true;
      const bar = live ? new SingleBar({ format: 'migrating [{bar}] {value}/{total} companies | failed {failed} | {slug}' }) : undefined;
      try {
        const run = await cli.withSilo(async (ctx) => {
          bar?.start(0, 0, { failed: 0, slug: '' });
          return migrateFleet(ctx, {
            concurrency: options.concurrency,
            canary: options.canary,
            maxFailures: options.maxFailures,
            only: options.only,
            exclude: options.exclude,
            dryRun: options.dryRun,
            skipUnreachable: options.skipUnreachable,
            actor: 'cli',
            signal: interrupt.signal,
            onResult: (result, progress) => {
              if (bar) {
                bar.setTotal(progress.total);
                bar.update(progress.done, { failed: progress.failed, slug: result.slug });
              } else if (!options.json) {
                const what =
                  result.status === 'failed'
                    ? `FAILED ${result.failedMigration ?? ''}: ${result.error}`
                    : result.applied.join(', ') || 'current';
                printLine(cli.stdout, `[${progress.done}/${progress.total}] ${result.slug}: ${what}`);
              }
            },
          });
        });
        bar?.stop();
        const failed = run.results.filter((r) => r.status === 'failed');
        const drifted = run.results.filter((r) => r.drift.length > 0);
        if (options.json) {
          printJson(cli.stdout, run);
        } else {
          const count = (status: string) => run.results.filter((r) => r.status === status).length;
          printTable(
            cli.stdout,
            ['TARGETED', options.dryRun ? 'BEHIND' : 'MIGRATED', 'CURRENT', 'FAILED', 'NOT ATTEMPTED', 'LATEST'],
            [[run.total, count('migrated'), count('current'), failed.length, run.notAttempted.length, run.latest]],
          );
          for (const f of failed) printLine(cli.stderr, `failed: ${f.slug} at ${f.failedMigration ?? '(connect)'}: ${f.error}`);
          for (const d of drifted) printLine(cli.stderr, `drift: ${d.slug}: ${d.drift.map((x) => x.tag).join(', ')} changed since applied`);
          if (run.skipped.length > 0) {
            printLine(cli.stderr, `skipped ${run.skipped.length} compan${run.skipped.length === 1 ? 'y' : 'ies'} on unreachable servers`);
          }
          if (run.stoppedBecause) printLine(cli.stderr, `stopped early: ${run.stoppedBecause.replace('_', ' ')}`);
        }
        const ok = options.dryRun ? failed.length === 0 : fleetSucceeded(run);
        if (!ok) {
          throw new CliError(`${failed.length} failed, ${run.notAttempted.length} not attempted of ${run.total} companies`, EXIT.failed);
        }
      } finally {
        bar?.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
