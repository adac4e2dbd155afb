// A migration set as drizzle-kit writes it: meta/_journal.json lists the migrations in order, each
// <tag>.sql holds statements separated by "--> statement-breakpoint". The hash is the SHA-256 of
// the file's text, exactly as drizzle's own migrator computes it, so both agree on what is applied.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const journalSchema = z.object({
  entries: z.array(z.object({ idx: z.number().int(), when: z.number().int(), tag: z.string().min(1) })),
});

export interface Migration {
  /** Position in the journal, from 0. */
  index: number;
  /** The file name without .sql, e.g. "0001_add_priority"; the version a database is on. */
  tag: string;
  /** The journal's "when": what drizzle's migrator stores as created_at. */
  createdAt: number;
  hash: string;
  statements: string[];
}

export interface MigrationSet {
  folder: string;
  migrations: Migration[];
  /** The tag of the last migration, or null for an empty set. */
  latest: string | null;
}

export function loadMigrationSet(folder: string): MigrationSet {
  const journal = journalSchema.parse(JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8')));
  const migrations = journal.entries.map((entry, index): Migration => {
    const text = readFileSync(join(folder, `${entry.tag}.sql`), 'utf8');
    return {
      index,
      tag: entry.tag,
      createdAt: entry.when,
      hash: createHash('sha256').update(text).digest('hex'),
      statements: text
        .split('--> statement-breakpoint')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    };
  });
  return { folder, migrations, latest: migrations.at(-1)?.tag ?? null };
}
