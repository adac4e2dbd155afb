// Document files in a folder per company under SILO_FILES_DIR: `<dir>/<company id>/<file id>`
// (files 0600, folders 0700). A file is written atomically (src/base/atomic-write.ts): a reader never
// finds half a file under a file's id, whatever crashes meanwhile; a failed write leaves nothing.
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, readdir, rm, stat } from 'node:fs/promises';
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
    const folder = this.folderOf(companyId);
    // A company made before files existed has no folder yet.
    await mkdir(folder, { recursive: true, mode: 0o700 });
    // A leading dot: never a file id; left behind only by a crash.
    await writeFileAtomically(path, join(folder, `.${randomUUID()}.tmp`), data);
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
