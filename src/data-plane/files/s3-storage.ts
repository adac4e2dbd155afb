// Document files in S3 or an S3-compatible store (@aws-sdk/client-s3): a bucket per company
// (`<prefix>-<company id>`), or one bucket with a prefix per company (`<company id>/`). An upload
// is first spooled to a temporary file while it arrives (its length is then known, which PutObject
// needs, and nothing is held in memory), then put whole: S3 shows an object only once it is all
// there, so a reader never sees part of one, and a failed upload puts nothing. docs/files.md.
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { S3FilesConfig } from '../../base/config/config.ts';
import { s3ClientConfig, s3ErrorCode as codeOf } from '../../base/s3-client-config.ts';
import { notFound } from '../../base/errors.ts';
import { type ByteRange, checkedId, type FileStorage, isFileId, type StoredFile } from './file-storage.ts';

export class S3FileStorage implements FileStorage {
  readonly kind = 's3' as const;
  readonly client: S3Client;

  constructor(
    private readonly config: S3FilesConfig,
    /** Where uploads are spooled before they are put. */
    private readonly spoolDir: string,
  ) {
    this.client = new S3Client(s3ClientConfig(config));
  }

  /** The company's bucket and the prefix of its keys in it. */
  placeOf(companyId: string): { bucket: string; prefix: string } {
    const id = checkedId(companyId);
    if (this.config.bucket) return { bucket: this.config.bucket, prefix: `${id}/` };
    return { bucket: `${this.config.bucketPrefix}-${id}`, prefix: '' };
  }

  private keyOf(companyId: string, fileId: string): { Bucket: string; Key: string } {
    const { bucket, prefix } = this.placeOf(companyId);
    return { Bucket: bucket, Key: `${prefix}${checkedId(fileId)}` };
  }

  async createCompany(companyId: string): Promise<void> {
    if (this.config.bucket) return;
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.placeOf(companyId).bucket }));
    } catch (error) {
      if (codeOf(error) !== 'BucketAlreadyOwnedByYou') throw error;
    }
  }

  async removeCompany(companyId: string): Promise<void> {
    const { bucket, prefix } = this.placeOf(companyId);
    try {
      let token: string | undefined;
      do {
        const page = await this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const object of page.Contents ?? []) await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key! }));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      if (!this.config.bucket) await this.client.send(new DeleteBucketCommand({ Bucket: bucket }));
    } catch (error) {
      if (codeOf(error) !== 'NoSuchBucket') throw error;
    }
  }

  async write(companyId: string, fileId: string, data: AsyncIterable<Uint8Array>): Promise<void> {
    const target = this.keyOf(companyId, fileId);
    await mkdir(this.spoolDir, { recursive: true, mode: 0o700 });
    const spooled = join(this.spoolDir, `${randomUUID()}.tmp`);
    const out = createWriteStream(spooled, { mode: 0o600 });
    try {
      await pipeline(data instanceof Readable ? data : Readable.from(data), out);
      const size = (await stat(spooled)).size;
      const put = () => this.client.send(new PutObjectCommand({ ...target, Body: createReadStream(spooled), ContentLength: size }));
      await put().catch(async (error: unknown) => {
        // A company made before files existed, or before S3 was configured, has no bucket yet.
        if (codeOf(error) !== 'NoSuchBucket') throw error;
        await this.createCompany(companyId);
        await put();
      });
    } finally {
      if (!out.closed) await new Promise<void>((closed) => out.once('close', () => closed()));
      await rm(spooled, { force: true });
    }
  }

  async read(companyId: string, fileId: string, range?: ByteRange): Promise<Readable> {
    try {
      const answer = await this.client.send(
        new GetObjectCommand({ ...this.keyOf(companyId, fileId), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      );
      return answer.Body as Readable;
    } catch (error) {
      if (codeOf(error) === 'NoSuchKey' || codeOf(error) === 'NoSuchBucket') throw notFound('file');
      throw error;
    }
  }

  async readBytes(companyId: string, fileId: string, range: ByteRange): Promise<Uint8Array<ArrayBuffer>> {
    // No bytes: S3 has no Range for none, and the whole (empty) object is as much.
    const bytes = await buffer(await this.read(companyId, fileId, range.end >= range.start ? range : undefined));
    // As the folder's read: never fewer or more bytes than the Content-Length taken from the row.
    if (bytes.length !== range.end - range.start + 1) throw new Error('the stored object does not have the bytes its row says');
    return bytes;
  }

  async list(companyId: string): Promise<StoredFile[]> {
    const { bucket, prefix } = this.placeOf(companyId);
    const found: StoredFile[] = [];
    try {
      let token: string | undefined;
      do {
        const page = await this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const object of page.Contents ?? []) {
          const id = object.Key!.slice(prefix.length);
          if (isFileId(id)) found.push({ id, size: object.Size ?? 0, modifiedAt: object.LastModified ?? new Date() });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      if (codeOf(error) !== 'NoSuchBucket') throw error;
    }
    return found;
  }

  async copy(fromCompanyId: string, toCompanyId: string, fileId: string): Promise<boolean> {
    const from = this.keyOf(fromCompanyId, fileId);
    await this.createCompany(toCompanyId);
    try {
      await this.client.send(new CopyObjectCommand({ ...this.keyOf(toCompanyId, fileId), CopySource: `${from.Bucket}/${from.Key}` }));
      return true;
    } catch (error) {
      if (codeOf(error) === 'NoSuchKey' || codeOf(error) === 'NoSuchBucket') return false;
      throw error;
    }
  }

  async remove(companyId: string, fileId: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand(this.keyOf(companyId, fileId)));
    } catch (error) {
      if (codeOf(error) !== 'NoSuchBucket') throw error;
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
