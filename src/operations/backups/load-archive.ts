// Filling a new, empty tenant database from a backup archive: migrated to the archive's schema
// version, every table's rows copied in (one transaction), its sequences set, each table's row
// count and checksum (read back from the database) compared with the archive's, then migrated forward to the latest version.
// Used by a restore in place and by a company created from a backup or an imported archive.
import type { Readable } from 'node:stream';
import type { Sql } from 'postgres';
import type { SiloContext } from '../../context.ts';
import { conflict, SiloError } from '../../base/errors.ts';
import type { MigrationSet } from '../../base/db/migration-set.ts';
import { applyMigrations } from '../../base/db/migration-runner.ts';
import { copyInto, fingerprint, readSequences, readTables, setSequences } from '../scale-out/table-copy.ts';
import { type Manifest, readArchive } from './archive-format.ts';
import { digestTable } from './copy-digest.ts';
import { countingRows, type OnProgress } from './progress.ts';
import { fileWriter } from './archive-files.ts';

export type LoadStep = 'migrate' | 'copy' | 'verify' | 'migrate_forward';

/** The tenant migrations up to the archive's version; 409 when this Silo does not know it (newer). */
export function migrationsUpTo(set: MigrationSet, version: string | null): MigrationSet {
  const index = set.migrations.findIndex((m) => m.tag === version);
  if (version === null || index < 0) {
    throw conflict(
      `the archive is at tenant schema version ${version ?? '(none)'}, which this Silo does not know (a newer Silo took it); upgrade Silo to restore it`,
      { schemaVersion: version, latest: set.latest },
    );
  }
  return { ...set, migrations: set.migrations.slice(0, index + 1), latest: version };
}

/**
 * Loads the archive into the database behind `sql` (a one-connection client as the company's
 * role, with table-copy's COPY_SESSION settings) and answers the schema version it ends on.
 * `step` wraps each step (the log, and the tests' failure injection).
 */
export async function loadArchive(
  ctx: SiloContext,
  sql: Sql,
  manifest: Manifest,
  archive: () => Promise<Readable>,
  step: <T>(name: LoadStep, run: () => Promise<T>) => Promise<T>,
  companyId: string,
  onProgress?: OnProgress,
): Promise<string | null> {
  const total = manifest.tables.reduce((sum, table) => sum + table.rows, 0);
  let done = 0;
  const counted = (rows: number) => {
    done += rows;
    onProgress?.({ stage: 'restore', done, total, unit: 'rows' });
  };
  await step('migrate', () => applyMigrations(sql, migrationsUpTo(ctx.tenantMigrations, manifest.schemaVersion)));

  await step('copy', async () => {
    // This client is the restore's alone: a raw BEGIN is safe on it (docs/reliability.md).
    await sql.unsafe('begin');
    try {
      const shapes = await readTables(sql);
      const describe = (tables: { name: string; columns: string[] }[]) =>
        tables
          .map((t) => `${t.name}(${t.columns.join(',')})`)
          .sort()
          .join(' ');
      if (describe(shapes) !== describe(manifest.tables)) {
        throw conflict("the archive's tables and columns are not those of its schema version", { schemaVersion: manifest.schemaVersion });
      }
      // A migration may have seeded rows: only the archive's count.
      if (shapes.length > 0) await sql`truncate ${sql(shapes.map((s) => s.name))}`;
      // The files go into the company's storage under their own ids as they come (docs/files.md).
      await readArchive(
        await archive(),
        async (table, data) => {
          await copyInto(sql, table, onProgress ? countingRows(data, counted) : data);
        },
        fileWriter(ctx, companyId),
      );
      // Only the sequences of the schema itself: a manifest is outside input (an import).
      const sequences = new Set((await readSequences(sql)).map((s) => s.name));
      const unknown = manifest.sequences.find((s) => !sequences.has(s.name));
      if (unknown) throw conflict(`the archive names a sequence that its schema version does not have (${unknown.name})`);
      await setSequences(sql, manifest.sequences);
      await sql.unsafe('commit');
    } catch (error) {
      await sql.unsafe('rollback').catch(() => {});
      throw error;
    }
  });

  await step('verify', async () => {
    // Format 1 archives carry table-copy.ts's fingerprint; later ones the digest of the COPY text.
    const figures = manifest.formatVersion === 1 ? fingerprint : digestTable;
    for (const table of manifest.tables) {
      const copied = await figures(sql, table);
      if (copied.rows !== table.rows || copied.checksum !== table.checksum) {
        throw new SiloError('internal', `the restored table ${table.name} does not match the backup`, {
          table: table.name,
          rows: { backup: table.rows, restored: copied.rows },
        });
      }
    }
  });

  return step('migrate_forward', async () => (await applyMigrations(sql, ctx.tenantMigrations)).version);
}
