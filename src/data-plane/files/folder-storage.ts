// Document files in a folder per company under SILO_FILES_DIR: `<dir>/<company id>/<file id>`
// (files 0600, folders 0700). A file is written as a temporary file beside its final name, flushed
// (fsync), renamed into place and the folder flushed, so a reader never finds half a file under a
// file's id, whatever crashes meanwhile; a failed write removes its temporary file.
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { notFound } from '../../base/errors.ts';
import { type ByteRange, checkedId, type FileStorage } from './file-storage.ts';
import { fsyncPath } from '../../base/fsync.ts';

const READ_CHUNK_BYTES = 1024 * 1024;

export class FolderFileStorage implements FileStorage {
  readonly kind = 'folder' as const;

  constructor(readonly root: string) {}

  folderOf(companyId: string): string {
    return join(this.root, checkedId(companyId));
  }

  private pathOf(companyId: string, fileId: string): string {
    return join(this.folderOf(companyId), checkedId(fileId));
  }

  async createCompany(companyId: string): Promise<void> {
    await mkdir(this.folderOf(companyId), { recursive: true, mode: 0o700 });
  }

  async removeCompany(companyId: string): Promise<void> {
    await rm(this.folderOf(companyId), { recursive: true, force: true });
  }

  async write(companyId: string, fileId: string, data: AsyncIterable<Uint8Array>): Promise<void> {
    const path = this.pathOf(companyId, fileId);
    const folder = this.folderOf(companyId);
    // A company made before files existed has no folder yet.
    await mkdir(folder, { recursive: true, mode: 0o700 });
    // A leading dot: never a file id; left behind only by a crash.
    const temporary = join(folder, `.${randomUUID()}.tmp`);
    const out = createWriteStream(temporary, { mode: 0o600 });
    try {
      await pipeline(Readable.from(data), out);
      await fsyncPath(temporary);
      await rename(temporary, path);
      await fsyncPath(folder);
    } catch (error) {
      // The stream may still open the file after a failure at once: remove it once it is closed.
      if (!out.closed) await new Promise<void>((closed) => out.once('close', () => closed()));
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async read(companyId: string, fileId: string, range?: ByteRange): Promise<Readable> {
    const path = this.pathOf(companyId, fileId);
    try {
      await stat(path);
    } catch {
      throw notFound('file');
    }
    // Reads of 1 MB rather than 64 kB: a download passes each chunk through web streams and HTTP,
    // whose cost is per chunk (docs/files.md, "Performance").
    return createReadStream(path, { highWaterMark: READ_CHUNK_BYTES, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  async remove(companyId: string, fileId: string): Promise<void> {
    await rm(this.pathOf(companyId, fileId), { force: true });
  }

  async close(): Promise<void> {}
}
