// The file storage a Silo uses, built once per configuration and shared by the routes and the
// operations (provisioning, delete, backups): S3 when it is configured, else a folder per company
// under SILO_FILES_DIR.
import { join } from 'node:path';
import type { Config } from '../../base/config/config.ts';
import type { FileStorage } from './file-storage.ts';
import { FolderFileStorage } from './folder-storage.ts';
import { S3FileStorage } from './s3-storage.ts';

const built = new WeakMap<Config, FileStorage>();

export function fileStorage(config: Config): FileStorage {
  let storage = built.get(config);
  if (!storage) {
    const { dir, s3 } = config.files;
    storage = s3 ? new S3FileStorage(s3, join(dir, '.spool')) : new FolderFileStorage(dir);
    built.set(config, storage);
  }
  return storage;
}

/** Ends the storage's clients, when one was built for this configuration. */
export async function closeFileStorage(config: Config): Promise<void> {
  await built.get(config)?.close();
  built.delete(config);
}
