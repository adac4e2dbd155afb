// Pieces the benchmarks that deploy a new tenant migration share: a migration appended to a copy of
// the migrations folder (as a deploy with a new migration brings it), and the concurrency
// `silo migrate apply` uses when none is given.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerMigrateCommands } from '../src/cli/commands/migrate.ts';

/** What `silo migrate apply` uses without --concurrency, read from the command's own definition. */
export function cliDefaultConcurrency(): number {
  const program = new Command();
  const unused = () => Promise.reject(new Error('not for running'));
  registerMigrateCommands(program, { stdout: process.stdout, stderr: process.stderr, env: {}, stdin: process.stdin, withSilo: unused });
  const apply = program.commands.find((c) => c.name() === 'migrate')?.commands.find((c) => c.name() === 'apply');
  const value: unknown = apply?.options.find((o) => o.long === '--concurrency')?.defaultValue;
  if (typeof value !== 'number') throw new Error('could not read the default of `silo migrate apply --concurrency`');
  return value;
}

/** Appends a migration to the copied journal, as `drizzle-kit generate --custom` would. */
export function appendMigration(folder: string, tag: string, text: string): void {
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8'));
  journal.entries.push({ idx: journal.entries.length, version: '7', when: journal.entries.at(-1).when + 1000, tag, breakpoints: true });
  writeFileSync(join(folder, `${tag}.sql`), text);
  writeFileSync(journalPath, JSON.stringify(journal, null, 2));
}
