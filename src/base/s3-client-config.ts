// The AWS SDK client settings for an S3 or S3-compatible store, shared by the document files' and
// the backups' storages. Types only from the SDK: whoever constructs the client loads it.
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import type { S3Connection } from './config/config.ts';

export function s3ClientConfig(connection: S3Connection): S3ClientConfig {
  return {
    region: connection.region,
    ...(connection.endpoint ? { endpoint: connection.endpoint } : {}),
    ...(connection.credentials ? { credentials: connection.credentials } : {}),
    forcePathStyle: connection.forcePathStyle,
    // Checksums only where S3 requires them: Silo checks what it stores with its own SHA-256, and
    // S3-compatible stores differ in which of the SDK's newer checksum headers they take.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}

/** The S3 error's code (`NoSuchKey`, `NoSuchBucket`, ...), whatever the SDK wrapped it in. */
export const s3ErrorCode = (error: unknown) => (error as { name?: string; Code?: string })?.Code ?? (error as { name?: string })?.name;
