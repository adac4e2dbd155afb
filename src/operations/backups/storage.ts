// Where backup archives are kept: one small interface, and a folder behind it (SILO_BACKUP_DIR,
// default <data dir>/backups) or an S3 bucket (s3-storage.ts, when SILO_BACKUP_S3_BUCKET is set).
// In the folder, an archive is written to a temporary file, flushed to disk, then renamed into
// place, so that a reader never finds half an archive under a backup's name, whatever crashes
// meanwhile.
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { notFound } from '../../base/errors.ts';
import { writeFileAtomically } from '../../base/atomic-write.ts';

export interface BackupStorage {
  /** Stores the stream under `key` as a whole or not at all; answers its size in bytes. */
  write(key: string, data: Readable): Promise<number>;
  /** The stored bytes; 404 when there are none. */
  read(key: string): Promise<Readable>;
  /** Removes it, and what an interrupted write left of it; nothing when it is not there. */
  remove(key: string): Promise<void>;
  /** Ends its clients (S3's connections). */
  close?(): Promise<void>;
}

/** Keys are `<company id>/<backup id>.silo`: nothing from a client reaches a path. */
const KEY = /^[0-9a-f-]{36}\/[0-9a-f-]{36}\.silo$/;

export function backupKey(companyId: string, backupId: string): string {
  const key = `${companyId}/${backupId}.silo`;
  if (!KEY.test(key)) throw new Error('a backup key is made of two ids');
  return key;
}

export function checkedKey(key: string): string {
  if (!KEY.test(key)) throw new Error('not a backup key');
  return key;
}

/**
 * Where an archive is written before its rename: a leading dot, never mistaken for an archive; named
 * after it, so that removing a backup interrupted by a crash removes what it had written.
 */
function temporaryPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp`);
}

export class FolderStorage implements BackupStorage {
  constructor(readonly root: string) {}

  private path(key: string): string {
    return join(this.root, checkedKey(key));
  }

  async write(key: string, data: Readable): Promise<number> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFileAtomically(path, temporaryPath(path), data);
    return (await stat(path)).size;
  }

  async read(key: string): Promise<Readable> {
    const path = this.path(key);
    try {
      await stat(path);
    } catch {
      throw notFound('backup archive');
    }
    return createReadStream(path);
  }

  async remove(key: string): Promise<void> {
    const path = this.path(key);
    await rm(path, { force: true });
    await rm(temporaryPath(path), { force: true });
  }
}
