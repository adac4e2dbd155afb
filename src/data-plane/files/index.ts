// The file storage a Silo uses, built once per configuration and shared by the routes and the
// operations (provisioning, delete, backups): a folder per company under SILO_FILES_DIR.
import type { Config } from '../../base/config/config.ts';
import type { FileStorage } from './file-storage.ts';
import { FolderFileStorage } from './folder-storage.ts';

const built = new WeakMap<Config, FileStorage>();

export function fileStorage(config: Config): FileStorage {
  let storage = built.get(config);
  if (!storage) {
    storage = new FolderFileStorage(config.files.dir);
    built.set(config, storage);
  }
  return storage;
}
