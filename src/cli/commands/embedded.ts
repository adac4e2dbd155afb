// `silo embedded url`: the embedded PostgreSQL's superuser connection string, for what Silo does not
// do itself (psql, creating a database to bring as your own). Its port and password were chosen on
// the first start and live in <SILO_DATA_DIR>/embedded.json (0600); this prints them only on request,
// to standard output, for the operator who can read that file anyway.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../base/config/config.ts';
import { embeddedUrl } from '../../base/embedded/embedded-postgres.ts';
import { parseText } from '../arguments.ts';
import { printLine } from '../output.ts';
import { CliError, type CliRuntime } from '../runtime.ts';

export function registerEmbeddedCommands(program: Command, cli: CliRuntime): void {
  const embedded = program.command('embedded').description('the embedded PostgreSQL (when DATABASE_URL is unset)');
  embedded
    .command('url')
    .description("print the embedded server's superuser postgres:// URL (it holds a password: keep it out of logs and shared shells)")
    .option('--database <name>', 'the database in the URL', parseText(63), 'postgres')
    .action((options: { database: string }) => {
      const config = loadConfig(cli.env);
      if (config.databaseUrl) throw new CliError('DATABASE_URL is set: Silo does not use the embedded PostgreSQL here');
      const file = join(config.dataDir, 'embedded.json');
      let settings: { port: number; user: string; password: string };
      try {
        settings = JSON.parse(readFileSync(file, 'utf8'));
      } catch {
        throw new CliError(`no embedded PostgreSQL in ${config.dataDir} yet: start Silo once (npm start), or set SILO_DATA_DIR`);
      }
      printLine(cli.stdout, embeddedUrl(settings, encodeURIComponent(options.database)));
    });
}
