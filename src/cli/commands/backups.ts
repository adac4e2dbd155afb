// `silo companies backup | backups | restore | export | import | archive | unarchive`: a company's
// backups from the command line, the same operations as the HTTP routes (docs/backups.md). The long
// ones draw progress bars on a terminal (progress.ts) and all print one JSON document with --json.
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { listBackups, openBackupArchive, takeBackup, toBackupView } from '../../operations/backups/backups.ts';
import { restoreCompany } from '../../operations/backups/restore-in-place.ts';
import { archiveCompany, unarchiveCompany } from '../../operations/backups/archive-company.ts';
import { importCompany } from '../../operations/backups/import.ts';
import { toCompanyView } from '../../control-plane/company-records.ts';
import { parseServerId, parseSlug, parseText } from '../arguments.ts';
import { printJson, printLine, printTable, shortTime } from '../output.ts';
import type { CliRuntime } from '../runtime.ts';
import { countingBytes, type ProgressBars, progressBars } from '../progress.ts';
import type { SiloContext } from '../../context.ts';

const megabytes = (bytes: number | undefined) => `${((bytes ?? 0) / 1e6).toFixed(1)} MB`;

/** Runs `work` on the Silo with progress bars (when stdout is a terminal and no --json), ended whatever happens. */
async function withProgress<T>(
  cli: CliRuntime,
  options: { json?: boolean },
  work: (ctx: SiloContext, bars: ProgressBars) => Promise<T>,
): Promise<T> {
  const bars = progressBars(cli, options);
  try {
    return await cli.withSilo((ctx) => work(ctx, bars));
  } finally {
    bars.stop();
  }
}

export function registerBackupCommands(program: Command, cli: CliRuntime): void {
  const companies = program.commands.find((command) => command.name() === 'companies');
  if (!companies) throw new Error('register the companies command first');

  companies
    .command('backup')
    .description("take a backup of a company's data from one consistent snapshot, and wait for it")
    .argument('<slug>', 'the company', parseSlug)
    .option('--json', 'print one JSON document: the backup')
    .action(async (slug: string, options: { json?: boolean }) => {
      const backup = toBackupView(await withProgress(cli, options, (ctx, bars) => takeBackup(ctx, slug, 'cli', 'manual', bars.update)));
      if (options.json) return printJson(cli.stdout, backup);
      const rows = Object.values(backup.tables ?? {}).reduce((n, r) => n + r, 0);
      printLine(cli.stdout, `backup ${backup.id} of ${slug}: ${rows} rows, ${megabytes(backup.sizeBytes)}, schema ${backup.schemaVersion}`);
    });

  companies
    .command('backups')
    .description("a company's backups, newest first")
    .argument('<slug>', 'the company', parseSlug)
    .option('--json', 'print one JSON document: { items, nextCursor }')
    .action(async (slug: string, options: { json?: boolean }) => {
      const page = await cli.withSilo((ctx) => listBackups(ctx, slug, { limit: 200 }));
      if (options.json) return printJson(cli.stdout, page);
      if (page.items.length === 0) return printLine(cli.stdout, 'no backups');
      printTable(
        cli.stdout,
        ['ID', 'STATUS', 'ORIGIN', 'SIZE', 'SCHEMA', 'STARTED'],
        page.items.map((b) => [b.id, b.status, b.origin, megabytes(b.sizeBytes), b.schemaVersion, shortTime(b.startedAt)]),
      );
    });

  companies
    .command('restore')
    .description("replace a company's data with one of its backups (verified, then swapped in under a short write hold)")
    .argument('<slug>', 'the company', parseSlug)
    .requiredOption('--backup <id>', 'the backup (see "silo companies backups")')
    .option('--json', 'print one JSON document: the company and the figures of the restore')
    .action(async (slug: string, options: { backup: string; json?: boolean }) => {
      const { restore } = await withProgress(cli, options, (ctx, bars) =>
        restoreCompany(ctx, slug, options.backup, 'cli', { onProgress: bars.update }),
      );
      if (options.json) return printJson(cli.stdout, restore);
      printLine(
        cli.stdout,
        `restored ${slug} from backup ${restore.backupId} in ${restore.durationMs} ms (schema ${restore.schemaVersion})`,
      );
      printLine(cli.stdout, `writes were held for ${restore.writesHeldMs} ms`);
    });

  companies
    .command('export')
    .description("write a company's backup archive to a file: a new backup, or --backup ID")
    .argument('<slug>', 'the company', parseSlug)
    .requiredOption('-o, --output <file>', 'where to write the archive')
    .option('--backup <id>', 'an existing backup rather than a new one')
    .option('--json', 'print one JSON document: the backup')
    .action(async (slug: string, options: { output: string; backup?: string; json?: boolean }) => {
      const backup = await withProgress(cli, options, async (ctx, bars) => {
        const id = options.backup ?? (await takeBackup(ctx, slug, 'cli', 'manual', bars.update)).id;
        const { backup, archive } = await openBackupArchive(ctx, slug, id);
        await pipeline(
          archive,
          (source: AsyncIterable<Buffer>) => countingBytes(source, bars, 'export', backup.sizeBytes ?? 0),
          createWriteStream(options.output, { mode: 0o600 }),
        );
        return toBackupView(backup);
      });
      if (options.json) return printJson(cli.stdout, backup);
      printLine(cli.stdout, `wrote backup ${backup.id} of ${slug} to ${options.output} (${megabytes(backup.sizeBytes)})`);
    });

  companies
    .command('import')
    .description('create a company from an archive file (what export writes, from this Silo or another)')
    .argument('<file>', 'the archive')
    .requiredOption('--slug <slug>', "the new company's slug", parseSlug)
    .option('--name <name>', "its name (default: the archive's)", parseText(200))
    .option('--server <serverId>', 'the postgres server to place it on (default: placement)', parseServerId)
    .option('--json', 'print one JSON document: the company')
    .action(async (file: string, options: { slug: string; name?: string; server?: string; json?: boolean }) => {
      const company = await withProgress(cli, options, async (ctx, bars) => {
        const size = (await stat(file)).size;
        return importCompany(
          ctx,
          { slug: options.slug, ...(options.name ? { name: options.name } : {}), ...(options.server ? { serverId: options.server } : {}) },
          Readable.from(countingBytes(createReadStream(file), bars, 'upload', size)),
          'cli',
          bars.update,
        );
      });
      const view = toCompanyView(company);
      if (options.json) return printJson(cli.stdout, view);
      printLine(cli.stdout, `imported ${file} as company ${view.slug} (${view.id}), schema ${view.schemaVersion}`);
    });

  for (const [name, description, run] of [
    ['archive', 'take a verified backup of a company and drop its database (its row and slug stay)', archiveCompany],
    ['unarchive', "restore an archived company's database onto a server chosen by placement", unarchiveCompany],
  ] as const) {
    companies
      .command(name)
      .description(description)
      .argument('<slug>', 'the company', parseSlug)
      .option('--json', 'print one JSON document: the company')
      .action(async (slug: string, options: { json?: boolean }) => {
        const view = toCompanyView(await cli.withSilo((ctx) => run(ctx, slug, 'cli')));
        if (options.json) return printJson(cli.stdout, view);
        printLine(cli.stdout, `company ${view.slug} is ${view.status}`);
      });
  }
}
