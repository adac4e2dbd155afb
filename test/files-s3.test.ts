// Document files in S3, against a local S3 stand-in (test/support/s3-stand-in.ts) and real
// PostgreSQL: a bucket per company made by the provisioning saga and removed by its undo, a round
// trip of 50 MB with the same SHA-256, ranges, isolation between companies' buckets, the bucket
// emptied and removed with the company, one shared bucket with a prefix per company, and files no
// row names removed by reconcile.
import { DeleteBucketCommand } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileStorage } from '../src/data-plane/files/index.ts';
import type { LazyS3FileStorage } from '../src/data-plane/files/index.ts';
import { reconcile } from '../src/operations/reconcile/reconcile.ts';
import { companyToken } from './support/company-login.ts';
import { digestOf, fileBytes, streamOf } from './support/file-bytes.ts';
import { type S3StandIn, startS3StandIn } from './support/s3-stand-in.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

const PREFIX = 'silo-files';
let s3: S3StandIn;
let t: TestSilo;

const s3Env = (extra: Record<string, string>) => ({
  SILO_FILES_S3_ENDPOINT: s3.endpoint,
  SILO_FILES_S3_FORCE_PATH_STYLE: 'true',
  SILO_FILES_S3_ACCESS_KEY_ID: 'stand-in',
  SILO_FILES_S3_SECRET_ACCESS_KEY: 'stand-in-secret',
  SILO_FILE_MAX_BYTES: String(60 * 1024 * 1024),
  ...extra,
});

async function createCompany(on: TestSilo, slug: string) {
  const admin = { email: `boss@${slug}.test`, password: 'boss-password' };
  const created = await on.call('POST', '/api/companies', { token: on.adminToken, body: { name: slug, slug, admin } });
  expect(created.status, created.text).toBe(201);
  const token = await companyToken(on, admin.email, admin.password, slug);
  const document = (await on.call('POST', '/api/documents', { token, body: { title: 'Contract', content: 'signed' } })).body.id;
  return { id: created.body.id as string, token, document: document as string };
}

async function upload(on: TestSilo, who: { token: string; document: string }, size: number) {
  const { chunks, sha256 } = fileBytes(size);
  const res = await on.app.request(`/api/documents/${who.document}/files?name=f.bin`, {
    method: 'POST',
    headers: { authorization: `Bearer ${who.token}`, 'content-type': 'application/octet-stream' },
    body: streamOf(chunks()),
    duplex: 'half',
  } as RequestInit);
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(201);
  expect(body.sha256).toBe(sha256);
  return body as { id: string; sha256: string; size: number };
}

const download = (on: TestSilo, who: { token: string; document: string }, fileId: string, headers: Record<string, string> = {}) =>
  on.app.request(`/api/documents/${who.document}/files/${fileId}`, { headers: { authorization: `Bearer ${who.token}`, ...headers } });

beforeAll(async () => {
  s3 = await startS3StandIn();
  t = await createTestSilo({ env: s3Env({ SILO_FILES_S3_BUCKET_PREFIX: PREFIX }) });
});

afterAll(async () => {
  await t?.close();
  await s3?.close();
});

describe('a bucket per company', () => {
  it('is made by the saga; files round-trip with their SHA-256 and ranges, each in its own bucket', async () => {
    const a = await createCompany(t, 's3-a');
    const b = await createCompany(t, 's3-b');
    expect(await s3.buckets()).toEqual(expect.arrayContaining([`${PREFIX}-${a.id}`, `${PREFIX}-${b.id}`]));

    const big = await upload(t, a, 50 * 1024 * 1024);
    const res = await download(t, a, big.id);
    expect(res.status).toBe(200);
    expect(await digestOf(res.body)).toEqual({ sha256: big.sha256, size: big.size });
    const part = await download(t, a, big.id, { range: 'bytes=100-199' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${big.size}`);
    expect((await part.arrayBuffer()).byteLength).toBe(100);

    expect(await s3.objects(`${PREFIX}-${a.id}`)).toEqual([big.id]);
    expect(await s3.objects(`${PREFIX}-${b.id}`)).toEqual([]);
    expect((await download(t, b, big.id)).status).toBe(404);
    expect((await download(t, { ...b, document: a.document }, big.id)).status).toBe(404);
  }, 120_000);

  it('answers a clean 500 for an object shorter than its row, never a body cut short', async () => {
    const a = await createCompany(t, 's3-short');
    const small = await upload(t, a, 5000);
    await s3.truncate(`${PREFIX}-${a.id}`, small.id, 100);
    const res = await download(t, a, small.id);
    expect(res.status).toBe(500);
    expect((await res.json()).error.code).toBe('internal');
  });

  it.each(['role', 'first_admin'] as const)(
    'is removed by the undo when provisioning fails at "%s", after the bucket step',
    async (failAt) => {
      const before = await s3.buckets();
      t.ctx.beforeProvisionStep = (step) => {
        if (step === failAt) throw new Error('injected failure');
      };
      try {
        const res = await t.call('POST', '/api/companies', {
          token: t.adminToken,
          body: { name: 'x', slug: `s3-fail-${failAt.replace('_', '-')}`, admin: { email: 'x@f.test' } },
        });
        expect(res.status).toBe(500);
        // The bucket step ran before the failure.
        expect(s3.requests).toContain(`PUT /${PREFIX}-${res.body.error.details.companyId}/`);
      } finally {
        t.ctx.beforeProvisionStep = undefined;
      }
      expect(await s3.buckets()).toEqual(before);
    },
  );

  it('is emptied and removed with the company', async () => {
    const gone = await createCompany(t, 's3-gone');
    await upload(t, gone, 1000);
    await upload(t, gone, 2000);
    expect(await s3.objects(`${PREFIX}-${gone.id}`)).toHaveLength(2);
    const res = await t.call('DELETE', '/api/companies/s3-gone', { token: t.adminToken, headers: { 'x-confirm': 's3-gone' } });
    expect(res.status).toBe(200);
    expect(await s3.buckets()).not.toContain(`${PREFIX}-${gone.id}`);
  });

  it('is made on the first upload of a company that has none (made before S3 was configured)', async () => {
    const old = await createCompany(t, 's3-old');
    const storage = await (fileStorage(t.config) as LazyS3FileStorage).loaded();
    await storage.client.send(new DeleteBucketCommand({ Bucket: `${PREFIX}-${old.id}` }));
    const file = await upload(t, old, 500);
    expect(await s3.objects(`${PREFIX}-${old.id}`)).toEqual([file.id]);
  });
});

describe('one bucket with a prefix per company', () => {
  it('keeps each company under its id, and removes only its keys with it', async () => {
    const shared = 'silo-shared-files';
    const storage = await (fileStorage(t.config) as LazyS3FileStorage).loaded();
    const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
    await storage.client.send(new CreateBucketCommand({ Bucket: shared }));
    const other = await createTestSilo({ env: s3Env({ SILO_FILES_S3_BUCKET: shared }) });
    try {
      const a = await createCompany(other, 'shared-a');
      const b = await createCompany(other, 'shared-b');
      const fa = await upload(other, a, 3000);
      const fb = await upload(other, b, 4000);
      expect(await s3.objects(shared)).toEqual([`${a.id}/${fa.id}`, `${b.id}/${fb.id}`].sort());
      expect((await download(other, b, fa.id)).status).toBe(404);
      const res = await other.call('DELETE', '/api/companies/shared-a', { token: other.adminToken, headers: { 'x-confirm': 'shared-a' } });
      expect(res.status).toBe(200);
      expect(await s3.objects(shared)).toEqual([`${b.id}/${fb.id}`]);
    } finally {
      await other.close();
    }
  });
});

describe('files no row names', () => {
  it('are removed from the company’s bucket by reconcile with fix, once past the grace period', async () => {
    const who = await createCompany(t, 's3-sweep');
    const named = await upload(t, who, 3000);
    const storage = fileStorage(t.config);
    const bucket = `${PREFIX}-${who.id}`;
    const stray = randomUUID();
    const recent = randomUUID();
    for (const id of [stray, recent]) await storage.write(who.id, id, fileBytes(50).chunks());
    for (const id of [named.id, stray]) await s3.age(bucket, id, new Date(Date.now() - 60 * 60_000));

    const findings = (await reconcile(t.ctx, { fix: true, actor: 'test' })).filter((f) => f.companyId === who.id);
    expect(findings).toEqual([expect.objectContaining({ kind: 'unreferenced_files', name: 's3-sweep: 1 file', fixed: true })]);
    expect(await s3.objects(bucket)).toEqual([named.id, recent].sort());
    expect((await download(t, who, named.id)).status).toBe(200);
  });
});

describe('files kept on detach', () => {
  it('are copied by the store into another company’s bucket for a re-attach, the first left as it was', async () => {
    const storage = fileStorage(t.config);
    const [from, to, fileId] = [randomUUID(), randomUUID(), randomUUID()];
    const { chunks, sha256 } = fileBytes(70_000);
    await storage.write(from, fileId, chunks());
    expect(await storage.copy(from, to, fileId)).toBe(true);
    expect(await s3.objects(`${PREFIX}-${to}`)).toEqual([fileId]);
    expect(await s3.objects(`${PREFIX}-${from}`)).toEqual([fileId]);
    expect((await digestOf(Readable.toWeb(await storage.read(to, fileId)) as ReadableStream<Uint8Array>)).sha256).toBe(sha256);
    expect(await storage.copy(from, to, randomUUID())).toBe(false);
    await storage.removeCompany(from);
    await storage.removeCompany(to);
  });
});
