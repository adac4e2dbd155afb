// Taking a company's backup: one REPEATABLE READ, READ ONLY transaction as the company's own role,
// on a connection of its own (never one of the pool map's: a long COPY must not keep a request
// waiting), that reads the tables and then streams every table's rows as COPY text into the
// archive, each table's row count and checksum taken from the text as it passes (one read of each
// table). Every figure and every row comes from the same snapshot.
import type { Readable } from 'node:stream';
import type { Sql } from 'postgres';
import type { SiloContext } from '../../context.ts';
import { conflict } from '../../base/errors.ts';
import { readMigrationState } from '../../base/db/migration-runner.ts';
import { SILO_VERSION } from '../../base/version.ts';
import { COPY_SESSION, readSequences, readTables } from '../scale-out/table-copy.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';
import { hasDatabase, openAsCompany } from '../../data-plane/company-database.ts';
import { FORMAT_VERSION, type Manifest } from './archive-format.ts';
import { writeArchive } from './archive-writer.ts';
import { copyOutStream } from './copy-digest.ts';
import type { OnProgress } from './progress.ts';
import { fileReader, readFileList } from './archive-files.ts';

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
  /** The archive; the snapshot's transaction ends when it has been read to its end (or destroyed). */
  archive: Readable;
  /** The manifest with every table's figures, once `archive` has been read to its end. */
  manifest: Promise<Manifest>;
}

/**
 * Opens the snapshot and answers its manifest and the archive stream. The caller must consume or
 * destroy `archive`; the connection ends with it.
 */
export async function takeSnapshot(ctx: SiloContext, company: CompanyRow, onProgress?: OnProgress): Promise<Snapshot> {
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
    // A sequence is not part of the snapshot: read now, it is at least as far as any row above.
    const sequences = await readSequences(sql);
    const files = await readFileList(sql, shapes);
    let done = 0;
    const total = onProgress ? await estimatedRows(sql) : 0;
    const [session] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    const written = writeArchive(
      {
        format: 'silo-backup',
        formatVersion: FORMAT_VERSION,
        company: { id: company.id, slug: company.slug, name: company.name },
        schemaVersion: version,
        siloVersion: SILO_VERSION,
        serverVersion: server!.version,
        createdAt: new Date().toISOString(),
        tables: shapes,
        sequences,
        ...(files ? { files } : {}),
      },
      (table) => copyOutStream(sql, table),
      {
        onRows:
          onProgress &&
          ((rows) => {
            done += rows;
            onProgress({ stage: 'backup', done, total: Math.max(total, done), unit: 'rows' });
          }),
        fileData: fileReader(ctx, company.id),
        codec: ctx.config.backups.compression,
      },
    );
    archive = written.archive;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      void (async () => {
        // Stopped midway (its reader went away): a COPY being sent stays blocked on a socket nobody
        // reads, its snapshot and locks held, and ending the client only half-closes the socket
        // (move-finish.ts): the company's role ends its own session from the server's side.
        try {
          if (!written.archive.readableEnded) await endSession(ctx, company, session!.pid);
        } finally {
          await sql.end({ timeout: 1 });
        }
      })().catch(() => {});
    };
    archive.once('end', end);
    archive.once('close', end);
    archive.once('error', end);
    return written;
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw error;
  }
}

/** Ends a session of the company's role from another (a role may end its own sessions). */
async function endSession(ctx: SiloContext, company: CompanyRow, pid: number): Promise<void> {
  const other = await openAsCompany(ctx, company, { max: 1, idle_timeout: 0 });
  try {
    await other`select pg_terminate_backend(${pid})`;
  } finally {
    await other.end({ timeout: 1 }).catch(() => {});
  }
}

/** The planner's estimate of the public tables' rows (0 for a table never analyzed). */
async function estimatedRows(sql: Sql): Promise<number> {
  const [row] = await sql<{ rows: string }[]>`
    select coalesce(sum(greatest(reltuples, 0)), 0)::bigint::text as rows
    from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r'`;
  return Number(row!.rows);
}
