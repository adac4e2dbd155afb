// The file storage a Silo uses, built once per configuration and shared by the routes and the
// operations (provisioning, delete, backups): S3 when it is configured, else a folder per company
// under SILO_FILES_DIR.
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Config, S3FilesConfig } from '../../base/config/config.ts';
import type { ByteRange, FileStorage, StoredFile } from './file-storage.ts';
import { FolderFileStorage } from './folder-storage.ts';
import type { S3FileStorage } from './s3-storage.ts';

/**
 * S3 storage whose module, and with it the AWS SDK (about 3.4 MB of heap in a Silo process), is
 * imported on first use: a Silo without S3 never loads it.
 */
export class LazyS3FileStorage implements FileStorage {
  readonly kind = 's3' as const;
  #storage: Promise<S3FileStorage> | undefined;

  constructor(
    private readonly config: S3FilesConfig,
    private readonly spoolDir: string,
  ) {}

  /** The S3 storage itself, its module imported on the first call. */
  loaded(): Promise<S3FileStorage> {
    this.#storage ??= import('./s3-storage.ts').then(({ S3FileStorage }) => new S3FileStorage(this.config, this.spoolDir));
    return this.#storage;
  }

  async createCompany(companyId: string): Promise<void> {
    return (await this.loaded()).createCompany(companyId);
  }

  async removeCompany(companyId: string): Promise<void> {
    return (await this.loaded()).removeCompany(companyId);
  }

  async write(companyId: string, fileId: string, data: AsyncIterable<Uint8Array>): Promise<void> {
    return (await this.loaded()).write(companyId, fileId, data);
  }

  async read(companyId: string, fileId: string, range?: ByteRange): Promise<Readable> {
    return (await this.loaded()).read(companyId, fileId, range);
  }

  async readBytes(companyId: string, fileId: string, range: ByteRange): Promise<Uint8Array<ArrayBuffer>> {
    return (await this.loaded()).readBytes(companyId, fileId, range);
  }

  async list(companyId: string): Promise<StoredFile[]> {
    return (await this.loaded()).list(companyId);
  }

  async copy(fromCompanyId: string, toCompanyId: string, fileId: string): Promise<boolean> {
    return (await this.loaded()).copy(fromCompanyId, toCompanyId, fileId);
  }

  async remove(companyId: string, fileId: string): Promise<void> {
    return (await this.loaded()).remove(companyId, fileId);
  }

  async close(): Promise<void> {
    // Nothing to end when it was never used.
    if (this.#storage) await (await this.#storage).close();
  }
}

const built = new WeakMap<Config, FileStorage>();

export function fileStorage(config: Config): FileStorage {
  let storage = built.get(config);
  if (!storage) {
    const { dir, s3 } = config.files;
    storage = s3 ? new LazyS3FileStorage(s3, join(dir, '.spool')) : new FolderFileStorage(dir);
    built.set(config, storage);
  }
  return storage;
}

/** Ends the storage's clients, when one was built for this configuration. */
export async function closeFileStorage(config: Config): Promise<void> {
  await built.get(config)?.close();
  built.delete(config);
}
