// The backup storage a Silo uses, built once per configuration and shared by every operation:
// an S3 bucket when SILO_BACKUP_S3_BUCKET is set (s3-storage.ts), else the folder (storage.ts).
import type { Readable } from 'node:stream';
import type { Config } from '../../base/config/config.ts';
import { type BackupStorage, FolderStorage } from './storage.ts';

/**
 * S3, loaded on first use: the AWS SDK is imported only by a Silo that has S3 configured (a static
 * import would cost every Silo process its memory).
 */
class LazyS3Storage implements BackupStorage {
  private storage?: Promise<BackupStorage>;

  constructor(private readonly config: NonNullable<Config['backups']['s3']>) {}

  private open(): Promise<BackupStorage> {
    this.storage ??= import('./s3-storage.ts').then(({ S3BackupStorage }) => new S3BackupStorage(this.config));
    return this.storage;
  }

  async write(key: string, data: Readable): Promise<number> {
    return (await this.open()).write(key, data);
  }

  async read(key: string): Promise<Readable> {
    return (await this.open()).read(key);
  }

  async remove(key: string): Promise<void> {
    return (await this.open()).remove(key);
  }

  async close(): Promise<void> {
    if (this.storage) await (await this.storage).close?.();
  }
}

const built = new WeakMap<Config, BackupStorage>();

/** The backup storage of a configuration, built once: its S3 bucket when one is set, else its folder. */
export function backupStorageOf(config: Config): BackupStorage {
  let storage = built.get(config);
  if (!storage) {
    storage = config.backups.s3 ? new LazyS3Storage(config.backups.s3) : new FolderStorage(config.backups.dir);
    built.set(config, storage);
  }
  return storage;
}

/** Ends the storage's clients, when one was built for this configuration. */
export async function closeBackupStorage(config: Config): Promise<void> {
  await built.get(config)?.close?.();
  built.delete(config);
}
