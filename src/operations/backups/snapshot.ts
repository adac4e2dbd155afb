// Taking a company's backup: one REPEATABLE READ, READ ONLY transaction as the company's own role,
// on a connection of its own (never one of the pool map's: a long COPY must not keep a request
// waiting), that reads the tables, their row counts and checksums, and then streams every table's
// rows as COPY text into the archive. Every figure and every row comes from the same snapshot.
import type { Readable } from 'node:stream';
import type { Sql } from 'postgres';
import type { SiloContext } from '../../context.ts';
import { conflict } from '../../base/errors.ts';
import { readMigrationState } from '../../base/db/migration-runner.ts';
import { COPY_SESSION, fingerprint, readSequences, readTables } from '../scale-out/table-copy.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';
import { hasDatabase, openAsCompany } from '../../data-plane/company-database.ts';
import { type Manifest, writeArchive } from './archive-format.ts';
import { fileReader, readFileList } from './archive-files.ts';

export const SILO_VERSION = '0.1.0';

/** A transaction that sits idle this long (a backup whose reader stalled) is ended by the server. */
const STALLED_BACKUP_TIMEOUT = '5min';

/** Why a company cannot be backed up, or nothing. */
export function refuseBackup(company: CompanyRow): void {
  if (company.status !== 'active' && company.status !== 'suspended') {
    throw conflict(`a ${company.status} company has no database to back up`);
  }
  if (company.provider === 'neon') {
    throw conflict('backups of Neon companies are not supported: use Neon branches and point-in-time restore for them');
  }
  if (!hasDatabase(company)) throw conflict('the company has no database to back up');
}

export interface Snapshot {
  manifest: Manifest;
  /** The archive; the snapshot's transaction ends when it has been read to its end (or destroyed). */
  archive: Readable;
}

/**
 * Opens the snapshot and answers its manifest and the archive stream. The caller must consume or
 * destroy `archive`; the connection ends with it.
 */
export async function takeSnapshot(ctx: SiloContext, company: CompanyRow): Promise<Snapshot> {
  refuseBackup(company);
  const sql = await openAsCompany(ctx, company, {
    max: 1,
    idle_timeout: 0,
    max_lifetime: 0,
    connection: { ...COPY_SESSION, application_name: 'silo-backup' },
  });
  let archive: Readable | undefined;
  try {
    // This connection is the backup's alone: a raw BEGIN is safe on it (docs/reliability.md).
    await sql.unsafe('begin isolation level repeatable read, read only');
    await sql.unsafe(`set local idle_in_transaction_session_timeout = '${STALLED_BACKUP_TIMEOUT}'`);
    // The first query takes the snapshot; everything below reads it.
    const shapes = await readTables(sql);
    const [server] = await sql<{ version: string }[]>`select current_setting('server_version') as version`;
    const { version } = await readMigrationState(sql, ctx.tenantMigrations);
    const tables: Manifest['tables'] = [];
    for (const shape of shapes) tables.push({ ...shape, ...(await fingerprint(sql, shape)) });
    // A sequence is not part of the snapshot: read now, it is at least as far as any row above.
    const sequences = await readSequences(sql);
    const files = await readFileList(sql, shapes);
    const manifest: Manifest = {
      format: 'silo-backup',
      formatVersion: 1,
      company: { id: company.id, slug: company.slug, name: company.name },
      schemaVersion: version,
      siloVersion: SILO_VERSION,
      serverVersion: server!.version,
      createdAt: new Date().toISOString(),
      tables,
      sequences,
      ...(files ? { files } : {}),
    };
    archive = writeArchive(manifest, (table) => copyOut(sql, table.name, table.columns), fileReader(ctx, company.id));
    const end = () => void sql.end({ timeout: 1 }).catch(() => {});
    archive.once('end', end);
    archive.once('close', end);
    archive.once('error', end);
    return { manifest, archive };
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw error;
  }
}

/** One table's rows as COPY text (the portable format: any later PostgreSQL reads it). */
async function copyOut(sql: Sql, table: string, columns: string[]): Promise<AsyncIterable<Buffer>> {
  const reader: Readable = await sql`copy ${sql(table)} (${sql(columns)}) to stdout`.readable();
  return (async function* () {
    try {
      for await (const chunk of reader) yield chunk as Buffer;
    } finally {
      // postgres.js may leave the socket paused after a COPY TO (table-copy.ts says more).
      reader._read(0);
    }
  })();
}
