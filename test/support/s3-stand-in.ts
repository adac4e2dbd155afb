// A local stand-in for S3, for the tests of document files and backups in S3: the few calls Silo
// makes (CreateBucket, DeleteBucket, ListObjectsV2 with LastModified, PutObject, CopyObject,
// GetObject with Range, DeleteObject, and multipart uploads: create, upload a part, complete,
// abort, list), path-style, over plain HTTP on 127.0.0.1, objects kept in a temporary folder. As
// in S3, an object appears only when its upload completes. Signatures are not checked (an
// Authorization header is required); nothing reaches the internet.
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, stat, truncate, utimes } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

export interface S3StandIn {
  endpoint: string;
  /** Bucket names, sorted. */
  buckets(): Promise<string[]>;
  /** The keys in a bucket, sorted; null when there is no such bucket. */
  objects(bucket: string): Promise<string[] | null>;
  /** Cuts an object to its first `size` bytes (storage damaged behind Silo's back). */
  truncate(bucket: string, key: string, size: number): Promise<void>;
  /** Makes an object look last written at `when` (its LastModified in a listing). */
  age(bucket: string, key: string, when: Date): Promise<void>;
  /** Requests seen, as "METHOD /path". */
  requests: string[];
  /** Multipart uploads begun and neither completed nor aborted, as "bucket/key". */
  openUploads(): string[];
  /** Fails the next `count` part uploads with a 500 (a store that breaks mid-upload). */
  failParts(count: number): void;
  /** Holds every object and part PUT (logged in `requests` first) until `until` settles. */
  holdPuts(until: Promise<void>): void;
  close(): Promise<void>;
}

const xml = (res: ServerResponse, status: number, body: string) => {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
};
const error = (res: ServerResponse, status: number, code: string) =>
  xml(res, status, `<Error><Code>${code}</Code><Message>${code}</Message></Error>`);

// Keys are stored under their hex encoding: no key ever becomes a path of its own.
const fileName = (key: string) => Buffer.from(key).toString('hex');
const keyOf = (name: string) => Buffer.from(name, 'hex').toString();

export async function startS3StandIn(): Promise<S3StandIn> {
  const root = mkdtempSync(join(tmpdir(), 'silo-s3-'));
  const requests: string[] = [];
  /** Multipart uploads under way by id: where they go and their parts' files. */
  const uploads = new Map<string, { bucket: string; key: string; parts: Map<number, string> }>();
  let partsToFail = 0;
  let putsHeld: Promise<void> = Promise.resolve();
  const bucketDir = (bucket: string) => join(root, bucket);
  const exists = (path: string) =>
    stat(path).then(
      () => true,
      () => false,
    );

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url!, 'http://stand-in');
    requests.push(`${req.method} ${url.pathname}`);
    if (!req.headers.authorization) return error(res, 403, 'AccessDenied');
    if (req.method === 'PUT') await putsHeld;
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) return error(res, 400, 'InvalidBucketName');
    const dir = bucketDir(bucket);
    if (!key) {
      if (req.method === 'GET' && url.searchParams.has('uploads')) {
        if (!(await exists(dir))) return error(res, 404, 'NoSuchBucket');
        return multipart(req, res, url, bucket, key, '');
      }
      if (req.method === 'PUT') {
        if (await exists(dir)) return error(res, 409, 'BucketAlreadyOwnedByYou');
        await mkdir(dir);
        res.writeHead(200, { location: `/${bucket}` }).end();
        return;
      }
      if (!(await exists(dir))) return error(res, 404, 'NoSuchBucket');
      if (req.method === 'DELETE') {
        if ((await readdir(dir)).length > 0) return error(res, 409, 'BucketNotEmpty');
        await rm(dir, { recursive: true });
        res.writeHead(204).end();
        return;
      }
      if (req.method === 'GET') {
        const prefix = url.searchParams.get('prefix') ?? '';
        const keys = (await readdir(dir))
          .map(keyOf)
          .filter((k) => k.startsWith(prefix))
          .sort();
        const contents = await Promise.all(
          keys.map(async (k) => {
            const info = await stat(join(dir, fileName(k)));
            return `<Contents><Key>${k}</Key><LastModified>${info.mtime.toISOString()}</LastModified><Size>${info.size}</Size></Contents>`;
          }),
        );
        return xml(
          res,
          200,
          `<ListBucketResult><Name>${bucket}</Name><Prefix>${prefix}</Prefix><KeyCount>${keys.length}</KeyCount><IsTruncated>false</IsTruncated>${contents.join('')}</ListBucketResult>`,
        );
      }
      return error(res, 405, 'MethodNotAllowed');
    }
    if (!(await exists(dir))) return error(res, 404, 'NoSuchBucket');
    const path = join(dir, fileName(key));
    const copySource = req.headers['x-amz-copy-source'];
    if (req.method === 'PUT' && typeof copySource === 'string') {
      const [fromBucket = '', ...fromKey] = decodeURIComponent(copySource).replace(/^\//, '').split('/');
      const from = join(bucketDir(fromBucket), fileName(fromKey.join('/')));
      if (!(await exists(from))) return error(res, 404, 'NoSuchKey');
      await copyFile(from, `${path}.part`);
      await rename(`${path}.part`, path);
      return xml(res, 200, '<CopyObjectResult><ETag>"stand-in"</ETag></CopyObjectResult>');
    }
    if (url.searchParams.has('uploads') || url.searchParams.has('uploadId')) return multipart(req, res, url, bucket, key, path);
    if (req.method === 'PUT') {
      const temporary = `${path}.part`;
      await pipeline(req, createWriteStream(temporary));
      await rename(temporary, path);
      res.writeHead(200, { etag: '"stand-in"' }).end();
      return;
    }
    if (req.method === 'DELETE') {
      await rm(path, { force: true });
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'GET') {
      if (!(await exists(path))) return error(res, 404, 'NoSuchKey');
      const size = (await stat(path)).size;
      const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (range) {
        const start = Number(range[1]);
        const end = Math.min(Number(range[2]), size - 1);
        res.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}` });
        await pipeline(createReadStream(path, { start, end }), res);
        return;
      }
      res.writeHead(200, { 'content-length': size });
      await pipeline(createReadStream(path), res);
      return;
    }
    return error(res, 405, 'MethodNotAllowed');
  }

  // Parts are kept beside the objects, under names no object has (a key's hex has no dot).
  async function multipart(req: IncomingMessage, res: ServerResponse, url: URL, bucket: string, key: string, path: string) {
    if (req.method === 'POST' && url.searchParams.has('uploads')) {
      const id = randomUUID();
      uploads.set(id, { bucket, key, parts: new Map() });
      return xml(
        res,
        200,
        `<InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`,
      );
    }
    if (req.method === 'GET' && url.searchParams.has('uploads')) {
      const prefix = url.searchParams.get('prefix') ?? '';
      const open = [...uploads].filter(([, u]) => u.bucket === bucket && u.key.startsWith(prefix));
      const items = open.map(([id, u]) => `<Upload><Key>${u.key}</Key><UploadId>${id}</UploadId></Upload>`).join('');
      return xml(
        res,
        200,
        `<ListMultipartUploadsResult><Bucket>${bucket}</Bucket><IsTruncated>false</IsTruncated>${items}</ListMultipartUploadsResult>`,
      );
    }
    const id = url.searchParams.get('uploadId') ?? '';
    const upload = uploads.get(id);
    if (!upload || upload.bucket !== bucket || upload.key !== key) return error(res, 404, 'NoSuchUpload');
    if (req.method === 'PUT') {
      if (partsToFail > 0) {
        partsToFail--;
        req.resume();
        return error(res, 500, 'InternalError');
      }
      const number = Number(url.searchParams.get('partNumber'));
      const part = `${path}.${id}.${number}`;
      await pipeline(req, createWriteStream(part));
      upload.parts.set(number, part);
      res.writeHead(200, { etag: `"part-${number}"` }).end();
      return;
    }
    const parts = [...upload.parts].sort(([a], [b]) => a - b);
    if (req.method === 'POST') {
      const temporary = `${path}.part`;
      for (const [i, [, part]] of parts.entries())
        await pipeline(createReadStream(part), createWriteStream(temporary, { flags: i ? 'a' : 'w' }));
      await rename(temporary, path);
    }
    if (req.method === 'POST' || req.method === 'DELETE') {
      for (const [, part] of parts) await rm(part, { force: true });
      uploads.delete(id);
      if (req.method === 'DELETE') return void res.writeHead(204).end();
      return xml(
        res,
        200,
        `<CompleteMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><ETag>"stand-in"</ETag></CompleteMultipartUploadResult>`,
      );
    }
    return error(res, 405, 'MethodNotAllowed');
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) error(res, 500, 'InternalError');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    openUploads: () => [...uploads.values()].map((u) => `${u.bucket}/${u.key}`),
    failParts(count) {
      partsToFail = count;
    },
    holdPuts(until) {
      putsHeld = until;
    },
    async buckets() {
      return (await readdir(root)).sort();
    },
    async objects(bucket) {
      if (!(await exists(bucketDir(bucket)))) return null;
      return (await readdir(bucketDir(bucket)))
        .filter((n) => !n.includes('.'))
        .map(keyOf)
        .sort();
    },
    async truncate(bucket, key, size) {
      await truncate(join(bucketDir(bucket), fileName(key)), size);
    },
    async age(bucket, key, when) {
      await utimes(join(bucketDir(bucket), fileName(key)), when, when);
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
