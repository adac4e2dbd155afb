// The document files of a backup (docs/files.md): their list is read in the backup's snapshot (the
// rows that the archive holds), their bytes are read from the company's file storage into the
// archive after the tables, and a restore or import writes them back into the target company's
// storage, each checked against its size and SHA-256 on the way.
import { createHash } from 'node:crypto';
import type { Sql } from 'postgres';
import type { SiloContext } from '../../context.ts';
import { invalid } from '../../base/errors.ts';
import { fileStorage } from '../../data-plane/files/index.ts';
import type { ManifestFile } from './archive-format.ts';

/** The files of the snapshot `sql` reads; undefined for a schema without files (older versions). */
export async function readFileList(sql: Sql, tables: { name: string }[]): Promise<ManifestFile[] | undefined> {
  if (!tables.some((t) => t.name === 'document_files')) return undefined;
  const rows = await sql<{ id: string; size: string; sha256: string }[]>`
    select id, size::text as size, sha256 from document_files order by id`;
  return rows.map((r) => ({ id: r.id, size: Number(r.size), sha256: r.sha256 }));
}

/** Reads one file of the company's for the archive. */
export function fileReader(ctx: SiloContext, companyId: string) {
  return async (file: ManifestFile): Promise<AsyncIterable<Uint8Array>> => fileStorage(ctx.config).read(companyId, file.id);
}

/** The bytes as they pass, refused at their end unless they are the file the manifest names. */
async function* checked(data: AsyncIterable<Buffer>, file: ManifestFile): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of data) {
    size += chunk.length;
    hash.update(chunk);
    yield chunk;
  }
  if (size !== file.size || hash.digest('hex') !== file.sha256) {
    throw invalid(`the archive's file ${file.id} does not match its size and SHA-256`, [{ path: 'archive', message: 'a file is damaged' }]);
  }
}

/** Writes a file of the archive into the company's storage, under its own id. */
export function fileWriter(ctx: SiloContext, companyId: string) {
  const storage = fileStorage(ctx.config);
  return async (file: ManifestFile, data: AsyncIterable<Buffer>): Promise<void> => {
    await storage.createCompany(companyId);
    await storage.write(companyId, file.id, checked(data, file));
  };
}
