// Backup archives in an S3 or S3-compatible bucket (SILO_BACKUP_S3_*), under keys
// `<prefix><company id>/<backup id>.silo`. An archive is streamed up as a multipart upload of
// PART_BYTES parts (one uploading while the next fills; no temporary file, no length needed in
// advance), or put whole when it is smaller than one part. S3 shows an object only once its upload
// is completed, so a reader never finds half an archive under a backup's key, and a failed write
// aborts its upload and leaves nothing. The archive's own checksums are checked on every read that
// acts on it (archive-format.ts), as for the folder. This module loads the AWS SDK: backups.ts
// imports it only when S3 is configured. docs/backups.md.
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { S3BackupsConfig } from '../../base/config/config.ts';
import { notFound } from '../../base/errors.ts';
import { s3ClientConfig, s3ErrorCode } from '../../base/s3-client-config.ts';
import { type BackupStorage, checkedKey } from './storage.ts';

/** S3 takes parts of 5 MiB or more (the last one aside), 10,000 at most: archives up to about 160 GB. */
const PART_BYTES = 16 * 1024 * 1024;

export class S3BackupStorage implements BackupStorage {
  readonly client: S3Client;

  constructor(private readonly config: S3BackupsConfig) {
    this.client = new S3Client(s3ClientConfig(config));
  }

  private object(key: string): { Bucket: string; Key: string } {
    return { Bucket: this.config.bucket, Key: `${this.config.prefix}${checkedKey(key)}` };
  }

  async write(key: string, data: Readable): Promise<number> {
    const target = this.object(key);
    let part: Buffer[] = [];
    let partSize = 0;
    let total = 0;
    let uploadId: string | undefined;
    const parts: { PartNumber: number; ETag: string | undefined }[] = [];
    let uploading: Promise<void> = Promise.resolve();
    const sendPart = async (body: Buffer) => {
      uploadId ??= (await this.client.send(new CreateMultipartUploadCommand(target))).UploadId;
      const PartNumber = parts.length + 1;
      const entry = { PartNumber, ETag: undefined as string | undefined };
      parts.push(entry);
      // The previous part first: one upload at a time, while the stream fills the next part.
      await uploading;
      uploading = this.client
        .send(new UploadPartCommand({ ...target, UploadId: uploadId, PartNumber, Body: body, ContentLength: body.length }))
        .then((answer) => {
          entry.ETag = answer.ETag;
        });
      // Awaited before the next part or at the end; a failure meanwhile must not count as unhandled.
      uploading.catch(() => {});
    };
    try {
      for await (const chunk of data as AsyncIterable<Buffer>) {
        part.push(chunk);
        partSize += chunk.length;
        total += chunk.length;
        if (partSize < PART_BYTES) continue;
        await sendPart(Buffer.concat(part, partSize));
        part = [];
        partSize = 0;
      }
      const last = Buffer.concat(part, partSize);
      if (uploadId === undefined) {
        await this.client.send(new PutObjectCommand({ ...target, Body: last, ContentLength: last.length }));
        return total;
      }
      if (last.length > 0) await sendPart(last);
      await uploading;
      await this.client.send(new CompleteMultipartUploadCommand({ ...target, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
      return total;
    } catch (error) {
      if (!data.destroyed) data.destroy();
      await uploading.catch(() => {});
      if (uploadId !== undefined) {
        await this.client.send(new AbortMultipartUploadCommand({ ...target, UploadId: uploadId })).catch(() => {});
      }
      throw error;
    }
  }

  async read(key: string): Promise<Readable> {
    try {
      return (await this.client.send(new GetObjectCommand(this.object(key)))).Body as Readable;
    } catch (error) {
      if (s3ErrorCode(error) === 'NoSuchKey') throw notFound('backup archive');
      throw error;
    }
  }

  /** The object, and the uploads of it that a Silo stopped in the middle of (a crash) left open. */
  async remove(key: string): Promise<void> {
    const target = this.object(key);
    await this.client.send(new DeleteObjectCommand(target));
    const open = await this.client.send(new ListMultipartUploadsCommand({ Bucket: target.Bucket, Prefix: target.Key }));
    for (const upload of open.Uploads ?? []) {
      if (upload.Key !== target.Key) continue;
      await this.client.send(new AbortMultipartUploadCommand({ ...target, UploadId: upload.UploadId }));
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
