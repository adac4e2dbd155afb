// Removing stored files that no row names: what a restore in place leaves (the files added after
// the backup: the restored database does not name them) and what a crash between an upload's
// storing and its row leaves. Run after a restore in place and by `silo reconcile` (docs/files.md).
// An upload in progress is never swept: its bytes are in a temporary file (never listed) until they
// are renamed into place a moment before the row is written, the room it holds has the file's id,
// and only files last written before `writtenBefore` are candidates.
import type { SiloContext } from '../context.ts';
import type { CompanyRow } from '../control-plane/schema.ts';
import { hasDatabase, openAsCompany } from '../data-plane/company-database.ts';
import { fileStorage } from '../data-plane/files/index.ts';

/** How long a stored file without a row may belong to an upload about to write its row. */
export const UNREFERENCED_GRACE_MS = 15 * 60_000;

/** Stored files of the company that no row names (nor an upload's hold), written before `writtenBefore`. */
export async function unreferencedFiles(ctx: SiloContext, company: CompanyRow, writtenBefore: Date): Promise<string[]> {
  if (!hasDatabase(company)) return [];
  // Listed before the rows are read: a file whose row commits in between is named by the rows.
  const stored = (await fileStorage(ctx.config).list(company.id)).filter((f) => f.modifiedAt < writtenBefore);
  if (stored.length === 0) return [];
  const sql = await openAsCompany(ctx, company);
  try {
    const named = await sql<{ id: string }[]>`
      select id::text from document_files union all select id::text from file_reservations`;
    const ids = new Set(named.map((r) => r.id));
    return stored.map((f) => f.id).filter((id) => !ids.has(id));
  } finally {
    await sql.end({ timeout: 2 });
  }
}

export async function removeStoredFiles(ctx: SiloContext, companyId: string, ids: string[]): Promise<void> {
  const storage = fileStorage(ctx.config);
  for (const id of ids) await storage.remove(companyId, id);
}

/** Removes them; answers how many. */
export async function sweepUnreferencedFiles(ctx: SiloContext, company: CompanyRow, writtenBefore: Date): Promise<number> {
  const ids = await unreferencedFiles(ctx, company, writtenBefore);
  await removeStoredFiles(ctx, company.id, ids);
  return ids.length;
}
