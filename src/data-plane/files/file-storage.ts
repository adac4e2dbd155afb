// Where the bytes of a company's document files live: one small interface, with a folder per
// company (folder-storage.ts) out of the box. Everything is keyed by the company's id and the file's
// id, both UUIDs that Silo made: nothing a client sends ever becomes part of a path or an object key.
// docs/files.md.
import type { Readable } from 'node:stream';

/** Bytes `start` to `end`, both included (as in an HTTP Range). */
export interface ByteRange {
  start: number;
  end: number;
}

export interface StoredFile {
  id: string;
  size: number;
  modifiedAt: Date;
}

export interface FileStorage {
  /** What backs it, for logs and the audit trail. */
  readonly kind: 'folder' | 's3';
  /** Makes the company's place (its folder or bucket); nothing when it exists. */
  createCompany(companyId: string): Promise<void>;
  /** Removes the company's place with every file in it; nothing when it is not there. */
  removeCompany(companyId: string): Promise<void>;
  /**
   * Stores the bytes under the file's id as a whole or not at all: a source that fails leaves
   * nothing behind, and a reader never sees part of a file.
   */
  write(companyId: string, fileId: string, data: AsyncIterable<Uint8Array>): Promise<void>;
  /** The stored bytes, or a part of them; 404 when there are none. */
  read(companyId: string, fileId: string, range?: ByteRange): Promise<Readable>;
  /**
   * Bytes `range` of a stored file (`end` = `start - 1`: none) in memory, for reads small enough to
   * hold whole (the caller bounds them); 404 when there is no such file.
   */
  readBytes(companyId: string, fileId: string, range: ByteRange): Promise<Uint8Array<ArrayBuffer>>;
  /**
   * The files stored for the company (not the temporary ones of uploads in progress), with when each
   * was last written; none when the company has no place yet.
   */
  list(companyId: string): Promise<StoredFile[]>;
  /**
   * Puts a file of one company under the same id in another's place, leaving the first where it is
   * (folder: a hard link, S3: a copy made by the store); false when there is no such file.
   */
  copy(fromCompanyId: string, toCompanyId: string, fileId: string): Promise<boolean>;
  /** Removes one file; nothing when it is not there. */
  remove(companyId: string, fileId: string): Promise<void>;
  /** Ends what it holds open (clients). */
  close(): Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether a name in a company's place is a file's id (and not, say, an upload's temporary file). */
export const isFileId = (name: string) => UUID.test(name);

/** Refuses anything but a lowercase UUID: the one check that keeps keys out of a client's hands. */
export function checkedId(id: string): string {
  if (!UUID.test(id)) throw new Error('a file storage key is made of ids');
  return id;
}
