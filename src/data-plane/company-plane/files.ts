// A document's files: the metadata in the company's database (document_files), the bytes in the
// company's file storage under the row's id. An upload is streamed: hashed (SHA-256) and counted as
// it arrives, held against the company's quota (file-quota.ts), written to storage atomically, and
// only then recorded; any failure on the way (a client gone, the size limit, the quota, the
// document deleted meanwhile) removes what was stored, so nothing is left behind. docs/files.md.
import { createHash, randomUUID } from 'node:crypto';
import { finished, Readable, Transform, type TransformCallback } from 'node:stream';
import { and, asc, eq, getTableColumns, sql } from 'drizzle-orm';
import { invalid, notFound, pgCode, SiloError } from '../../base/errors.ts';
import { inTransaction } from '../../base/db/transaction.ts';
import type { ByteRange, FileStorage } from '../files/file-storage.ts';
import type { TenantDb } from '../pool-map.ts';
import { documentFiles, documents } from '../schema.ts';
import { preparedSelect } from '../prepared.ts';
import { rowsOf } from '../tenant-db.ts';
import { StorageHold } from './file-quota.ts';

export interface FileView {
  id: string;
  documentId: string;
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  createdBy: string | null;
  createdAt: string;
}

type FileRow = typeof documentFiles.$inferSelect;

function toFileView(row: FileRow): FileView {
  return { ...row, createdAt: row.createdAt.toISOString() };
}

export interface Upload {
  documentId: string;
  name: string;
  contentType: string;
  createdBy: string;
  /** The request's Content-Length, when it gave one. */
  declaredBytes: number | undefined;
  /** SILO_FILE_MAX_BYTES. */
  maxBytes: number;
  /** The company's maxStorageBytes; null: no limit. */
  maxStorageBytes: number | null;
}

interface Company {
  id: string;
}

// The lookups of every upload and download, prepared once per tenant pool (prepared.ts): a small
// transfer's time is mostly such fixed costs (docs/files.md, "Performance").
const documentIdOf = preparedSelect({ id: documents.id }, (db) =>
  db
    .select({ id: documents.id })
    .from(documents)
    .where(eq(documents.id, sql.placeholder('id')))
    .prepare('silo_document_exists'),
);
const fileColumns = getTableColumns(documentFiles);
const fileById = preparedSelect(fileColumns, (db) =>
  db
    .select(fileColumns)
    .from(documentFiles)
    .where(and(eq(documentFiles.id, sql.placeholder('id')), eq(documentFiles.documentId, sql.placeholder('documentId'))))
    .prepare('silo_document_file_by_id'),
);

async function assertDocument(db: TenantDb, documentId: string): Promise<void> {
  const [row] = await documentIdOf(db, { id: documentId });
  if (!row) throw notFound('document');
}

function tooLarge(maxBytes: number): SiloError {
  return new SiloError('payload_too_large', `the file is over the limit of ${maxBytes} bytes`, { maxBytes });
}

/**
 * The upload's bytes as they pass to storage: counted against both limits (refused at the chunk
 * that passes one, before it is stored) and hashed. A stream rather than an async generator: a
 * 50 MB body comes in about 800 chunks, and a generator costs promises for each (docs/files.md,
 * "Performance"); the quota is asked only when the bytes reach what is held.
 */
class UploadMeter extends Transform {
  bytes = 0;
  readonly hash = createHash('sha256');

  constructor(
    private readonly upload: Upload,
    private readonly hold: StorageHold,
  ) {
    super();
    // Its errors reach the upload through the write it feeds, or through the document's lookup.
    // The lookup can fail it before the write listens (while room is held), and an error nobody
    // listens to would be thrown as uncaught and end the process.
    this.on('error', () => {});
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    const refused =
      this.bytes > this.upload.maxBytes
        ? tooLarge(this.upload.maxBytes)
        : this.upload.declaredBytes !== undefined && this.bytes > this.upload.declaredBytes
          ? invalid('the body is longer than its Content-Length')
          : undefined;
    const pass = () => {
      this.hash.update(chunk);
      done(null, chunk);
    };
    if (refused) done(refused);
    else if (this.hold.covers(this.bytes)) pass();
    else this.hold.cover(this.bytes).then(pass, done);
  }
}

/**
 * The body, a Node request or any async iterable, flowing through the meter. Its errors, and its
 * end before it is complete (the client gone), fail the meter and with it the write. A failure of
 * the meter (a limit) leaves a Node request alone: destroying it would close the socket before the
 * 413 or 409 is sent (@hono/node-server drains the rest of the body after the answer).
 */
function metered(body: AsyncIterable<Uint8Array>, meter: UploadMeter): UploadMeter {
  const source = body instanceof Readable ? body : Readable.from(body);
  finished(source, (error) => {
    if (error) meter.destroy(error);
  });
  // An async iterable (a web stream) is let go when the meter is done with it.
  if (source !== body) meter.once('close', () => source.destroy());
  return source.pipe(meter);
}

export async function uploadFile(
  db: TenantDb,
  storage: FileStorage,
  company: Company,
  upload: Upload,
  body: AsyncIterable<Uint8Array>,
): Promise<FileView> {
  if (upload.declaredBytes !== undefined && upload.declaredBytes > upload.maxBytes) throw tooLarge(upload.maxBytes);
  const id = randomUUID();
  const hold = new StorageHold(db, id, upload.maxStorageBytes);
  const meter = new UploadMeter(upload, hold);
  // The document is looked up while the first bytes arrive rather than before them (a database
  // round trip less in a small upload's time); a missing one stops the upload where it is.
  const documentFound = assertDocument(db, upload.documentId);
  documentFound.catch((error: unknown) => meter.destroy(error as Error));
  let stored = false;
  try {
    // A length said ahead is held whole: an upload that cannot fit is refused before any byte.
    if (upload.declaredBytes !== undefined) await hold.cover(upload.declaredBytes, true);
    await storage.write(company.id, id, metered(body, meter));
    stored = true;
    await documentFound;
    // A client that stops sending early may end its body without an error.
    if (upload.declaredBytes !== undefined && meter.bytes !== upload.declaredBytes) {
      throw invalid('the body ended before its Content-Length');
    }
    const sha256 = meter.hash.digest('hex');
    const size = meter.bytes;
    const [row] = await hold.commit(size, (tx) =>
      tx
        .insert(documentFiles)
        .values({
          id,
          documentId: upload.documentId,
          name: upload.name,
          contentType: upload.contentType,
          size,
          sha256,
          createdBy: upload.createdBy,
        })
        .returning(),
    );
    return toFileView(row!);
  } catch (error) {
    if (stored) await storage.remove(company.id, id).catch(() => {});
    await hold.release().catch(() => {});
    // A missing document answers 404, whatever else failed once it stopped the upload.
    await documentFound;
    // The document was deleted while its file arrived.
    if (pgCode(error) === '23503') throw notFound('document');
    throw error;
  }
}

export async function listFiles(db: TenantDb, documentId: string): Promise<FileView[]> {
  await assertDocument(db, documentId);
  const rows = await db
    .select()
    .from(documentFiles)
    .where(eq(documentFiles.documentId, documentId))
    .orderBy(asc(documentFiles.createdAt), asc(documentFiles.id));
  return rows.map(toFileView);
}

/** One file of one document; 404 for any other pair (another document's file, another company's id). */
export async function getFile(db: TenantDb, documentId: string, fileId: string): Promise<FileView> {
  const [row] = await fileById(db, { id: fileId, documentId });
  if (!row) throw notFound('file');
  return toFileView(row);
}

/**
 * A download whose bytes are at most this many is read whole and answered in one write; a larger one
 * is streamed. 1 MiB, the read stream's own chunk: a streamed download holds as much at a time
 * anyway, so memory stays bounded by this many bytes per download in progress either way.
 */
export const WHOLE_READ_BYTES = 1024 * 1024;

/**
 * The file's bytes, or the part `range` names: in memory when they are few (WHOLE_READ_BYTES; a
 * stream and its chunks cost more than the read itself, docs/files.md, "Performance"), else a stream.
 */
export async function openFile(
  storage: FileStorage,
  company: Company,
  file: FileView,
  range?: ByteRange,
): Promise<Uint8Array<ArrayBuffer> | Readable> {
  const part = range ?? { start: 0, end: file.size - 1 };
  if (part.end - part.start + 1 <= WHOLE_READ_BYTES) return storage.readBytes(company.id, file.id, part);
  // `part`, never the open end: bytes on disk past the row's size must not follow its Content-Length.
  return storage.read(company.id, file.id, part);
}

/** The row first, then the bytes: a failure between leaves bytes no row points at, never a row without its bytes. */
export async function deleteFile(db: TenantDb, storage: FileStorage, company: Company, documentId: string, fileId: string) {
  const deleted = await db
    .delete(documentFiles)
    .where(and(eq(documentFiles.id, fileId), eq(documentFiles.documentId, documentId)))
    .returning({ id: documentFiles.id });
  if (deleted.length === 0) throw notFound('file');
  await storage.remove(company.id, fileId);
}

/**
 * Deletes a document with its files' rows, then their bytes. The document is locked first: an
 * upload's insert needs a key-share lock on it, so none can slip a row in between.
 */
export async function deleteDocumentWithFiles(db: TenantDb, storage: FileStorage, company: Company, documentId: string) {
  const fileIds = await inTransaction(db, async (tx) => {
    const found = rowsOf(await tx.execute(sql`select id from documents where id = ${documentId} for update`));
    if (found.length === 0) throw notFound('document');
    const files = await tx.delete(documentFiles).where(eq(documentFiles.documentId, documentId)).returning({ id: documentFiles.id });
    await tx.delete(documents).where(eq(documents.id, documentId));
    return files.map((f) => f.id);
  });
  for (const id of fileIds) await storage.remove(company.id, id);
}
