// Document files in a folder per company under SILO_FILES_DIR: `<dir>/<company id>/<file id>`
// (files 0600, folders 0700). A file is written atomically (src/base/atomic-write.ts): a reader never
// finds half a file under a file's id, whatever crashes meanwhile; a failed write leaves nothing.
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, link, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { notFound } from '../../base/errors.ts';
import { type ByteRange, checkedId, type FileStorage, isFileId, type StoredFile } from './file-storage.ts';
import { writeFileAtomically } from '../../base/atomic-write.ts';
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
    // A leading dot: never a file id; left behind only by a crash. A company made before files
    // existed has no folder yet: the write makes it.
    await writeFileAtomically(path, join(this.folderOf(companyId), `.${randomUUID()}.tmp`), data, { makeFolder: true });
  }

  /** The file opened for reading; 404 when there is none (no stat first: the open tells as much). */
  private async openFile(companyId: string, fileId: string): Promise<FileHandle> {
    try {
      return await open(this.pathOf(companyId, fileId), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw notFound('file');
      throw error;
    }
  }

  async read(companyId: string, fileId: string, range?: ByteRange): Promise<Readable> {
    const handle = await this.openFile(companyId, fileId);
    // Reads of 1 MB rather than 64 kB: a download passes each chunk through web streams and HTTP,
    // whose cost is per chunk (docs/files.md, "Performance"). The stream closes the handle.
    return createReadStream('', { fd: handle, highWaterMark: READ_CHUNK_BYTES, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  async readBytes(companyId: string, fileId: string, range: ByteRange): Promise<Uint8Array<ArrayBuffer>> {
    const handle = await this.openFile(companyId, fileId);
    try {
      const bytes = Buffer.allocUnsafe(range.end - range.start + 1);
      // One read does it for a file in the page cache; the loop is for the rare short read.
      for (let filled = 0; filled < bytes.length; ) {
        const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, range.start + filled);
        if (bytesRead === 0) throw new Error('the stored file is shorter than its row says');
        filled += bytesRead;
      }
      return bytes;
    } finally {
      await handle.close();
    }
  }

  async list(companyId: string): Promise<StoredFile[]> {
    const folder = this.folderOf(companyId);
    const names = await readdir(folder).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    const found: StoredFile[] = [];
    for (const name of names.filter(isFileId)) {
      // Removed meanwhile: not there any more.
      const info = await stat(join(folder, name)).catch(() => undefined);
      if (info) found.push({ id: name, size: info.size, modifiedAt: info.mtime });
    }
    return found;
  }

  async copy(fromCompanyId: string, toCompanyId: string, fileId: string): Promise<boolean> {
    await this.createCompany(toCompanyId);
    try {
      // Both folders are under one root: a link shares the bytes, and it is whole or not there.
      await link(this.pathOf(fromCompanyId, fileId), this.pathOf(toCompanyId, fileId));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return false;
      if (code !== 'EEXIST') throw error;
    }
    await fsyncPath(this.folderOf(toCompanyId));
    return true;
  }

  async remove(companyId: string, fileId: string): Promise<void> {
    await rm(this.pathOf(companyId, fileId), { force: true });
  }

  async close(): Promise<void> {}
}
