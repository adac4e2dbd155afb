// A temporary copy of the tenant migration set that a test can add migrations to, as a deploy
// would bring them (`drizzle-kit generate --custom` writes the same files).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrationsFolder } from '../../src/bootstrap.ts';
import { loadMigrationSet, type MigrationSet } from '../../src/base/db/migration-set.ts';

export interface MigrationFolder {
  path: string;
  /** Appends a migration and answers the set as a restart with the new code reads it. */
  add(tag: string, text: string): MigrationSet;
  remove(): void;
}

export function copyTenantMigrations(): MigrationFolder {
  const path = mkdtempSync(join(tmpdir(), 'silo-migrations-'));
  cpSync(migrationsFolder('tenant'), path, { recursive: true });
  return {
    path,
    add(tag, text) {
      const journalPath = join(path, 'meta', '_journal.json');
      const journal = JSON.parse(readFileSync(journalPath, 'utf8'));
      journal.entries.push({ idx: journal.entries.length, version: '7', when: journal.entries.at(-1).when + 1000, tag, breakpoints: true });
      writeFileSync(join(path, `${tag}.sql`), text);
      writeFileSync(journalPath, JSON.stringify(journal, null, 2));
      return loadMigrationSet(path);
    },
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}
