// Document files against real PostgreSQL and a real folder: upload and download round trips with
// the same SHA-256 (up to 50 MB, streamed through a real HTTP server), ranges, ETags, the size
// limit, isolation between companies, an upload aborted mid-way, and the company's folder made by
// the provisioning saga, undone with it, and removed with the company.
import { existsSync, readdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { request } from 'node:http';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCompany } from '../src/control-plane/company-records.ts';
import { fileReservations } from '../src/data-plane/schema.ts';
import { companyToken } from './support/company-login.ts';
import { digestOf, fileBytes, streamOf } from './support/file-bytes.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

const MAX_FILE = 60 * 1024 * 1024;
let t: TestSilo;
let server: ServerType;
let base: string;
const companies: Record<string, { id: string; token: string; document: string }> = {};

async function createCompany(slug: string) {
  const admin = { email: `boss@${slug}.test`, password: 'boss-password' };
  const created = await t.call('POST', '/api/companies', { token: t.adminToken, body: { name: slug, slug, admin } });
  expect(created.status, created.text).toBe(201);
  const token = await companyToken(t, admin.email, admin.password, slug);
  const document = await t.call('POST', '/api/documents', { token, body: { title: 'Contract', content: 'signed' } });
  companies[slug] = { id: created.body.id, token, document: document.body.id };
  return companies[slug]!;
}

const folderOf = (companyId: string) => join(t.config.files.dir, companyId);

/** Uploads bytes through the in-process app (a streamed body). */
async function upload(slug: string, bytes: Uint8Array | ReadableStream<Uint8Array>, name = 'file.bin', type = 'application/pdf') {
  const { token, document } = companies[slug]!;
  const res = await t.app.request(`/api/documents/${document}/files?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': type },
    body: bytes,
    ...(bytes instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit);
  return { status: res.status, body: await res.json() };
}

function download(slug: string, fileId: string, headers: Record<string, string> = {}, document = companies[slug]!.document) {
  return t.app.request(`/api/documents/${document}/files/${fileId}`, {
    headers: { authorization: `Bearer ${companies[slug]!.token}`, ...headers },
  });
}

beforeAll(async () => {
  t = await createTestSilo({ env: { SILO_FILE_MAX_BYTES: String(MAX_FILE) } });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await createCompany('files-a');
  await createCompany('files-b');
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await t?.close();
});

describe('upload and download', () => {
  it('round-trips a small file with its name, type, size and SHA-256', async () => {
    const { chunks, sha256 } = fileBytes(1000);
    const up = await upload('files-a', streamOf(chunks()), 'Grüße "2026".pdf');
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({ name: 'Grüße "2026".pdf', contentType: 'application/pdf', size: 1000, sha256 });
    const res = await download('files-a', up.body.id);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pdf');
    expect(res.headers.get('content-length')).toBe('1000');
    expect(res.headers.get('etag')).toBe(`"${sha256}"`);
    expect(res.headers.get('content-disposition')).toContain("filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%222026%22.pdf");
    expect(await digestOf(res.body)).toEqual({ sha256, size: 1000 });

    const list = await t.call('GET', `/api/documents/${companies['files-a']!.document}/files`, { token: companies['files-a']!.token });
    expect(list.status).toBe(200);
    expect(list.body.items.map((f: { id: string }) => f.id)).toContain(up.body.id);
  });

  it('round-trips 50 MB through a real HTTP server, chunked and with a Content-Length, with the same SHA-256', async () => {
    const size = 50 * 1024 * 1024;
    const { chunks, sha256 } = fileBytes(size);
    const { token, document } = companies['files-a']!;
    for (const withLength of [false, true]) {
      const res = await fetch(`${base}/api/documents/${document}/files?name=big.bin`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/octet-stream',
          ...(withLength ? { 'content-length': String(size) } : {}),
        },
        body: streamOf(chunks()),
        duplex: 'half',
      } as RequestInit);
      const file = await res.json();
      expect(res.status, JSON.stringify(file)).toBe(201);
      expect(file).toMatchObject({ size, sha256 });
      const back = await fetch(`${base}/api/documents/${document}/files/${file.id}`, { headers: { authorization: `Bearer ${token}` } });
      expect(back.status).toBe(200);
      expect(back.headers.get('content-length')).toBe(String(size));
      expect(await digestOf(back.body)).toEqual({ sha256, size });
    }
  }, 120_000);

  it('stores an empty file, and refuses a file over SILO_FILE_MAX_BYTES with 413, leaving nothing', async () => {
    const empty = await upload('files-a', new Uint8Array(0));
    expect(empty.status).toBe(201);
    expect(empty.body.size).toBe(0);
    const before = readdirSync(folderOf(companies['files-a']!.id)).length;
    const tooLarge = await upload('files-a', streamOf(fileBytes(MAX_FILE + 1).chunks()));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.error.code).toBe('payload_too_large');
    expect(readdirSync(folderOf(companies['files-a']!.id)).length).toBe(before);
  });

  it('answers 413 over HTTP to a chunked body that passes SILO_FILE_MAX_BYTES mid-way, and stores nothing', async () => {
    // Served by a real server, the body is Node's request itself: the refusal must leave the
    // connection open for its answer (not reset it), and nothing behind.
    const { id, token, document } = companies['files-a']!;
    const before = readdirSync(folderOf(id)).sort();
    const res = await fetch(`${base}/api/documents/${document}/files?name=over.bin`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      // The limit is passed with 4 MB still to come.
      body: streamOf(fileBytes(MAX_FILE + 4 * 1024 * 1024).chunks()),
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect((await res.json()).error.code).toBe('payload_too_large');
    expect(readdirSync(folderOf(id)).sort()).toEqual(before);
  }, 60_000);

  it('answers 404 over HTTP to an upload to an unknown document, whose bytes start to arrive while it is looked up, and stores nothing', async () => {
    const { id, token } = companies['files-a']!;
    const before = readdirSync(folderOf(id)).sort();
    for (const withLength of [true, false]) {
      const size = 8 * 1024 * 1024;
      const res = await fetch(`${base}/api/documents/${crypto.randomUUID()}/files?name=lost.bin`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, ...(withLength ? { 'content-length': String(size) } : {}) },
        body: streamOf(fileBytes(size).chunks()),
        duplex: 'half',
      } as RequestInit);
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe('not_found');
      expect(readdirSync(folderOf(id)).sort()).toEqual(before);
    }
  }, 60_000);

  it('refuses a bad name or content type with 400, and an unknown document with 404', async () => {
    const { token, document } = companies['files-a']!;
    const bad = await t.call('POST', `/api/documents/${document}/files?name=a%2Fb`, { token, body: 'x' });
    expect(bad.status).toBe(400);
    const noName = await t.call('POST', `/api/documents/${document}/files`, { token, body: 'x' });
    expect(noName.status).toBe(400);
    const badType = await t.call('POST', `/api/documents/${document}/files?name=a`, {
      token,
      body: 'x',
      headers: { 'content-type': 'nonsense' },
    });
    expect(badType.status).toBe(400);
    const unknown = await t.call('POST', `/api/documents/${crypto.randomUUID()}/files?name=a`, { token, body: 'x' });
    expect(unknown.status).toBe(404);
  });
});

describe('ranges and ETags', () => {
  let id: string;
  let all: Buffer;
  beforeAll(async () => {
    all = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    const up = await upload('files-a', all, 'ranged.bin', 'application/octet-stream');
    id = up.body.id;
  });

  it.each([
    ['bytes=0-9', 0, 9],
    ['bytes=990-', 990, 999],
    ['bytes=-5', 995, 999],
    ['bytes=500-5000', 500, 999],
  ])('%s answers 206 with those bytes and Content-Range', async (range, start, end) => {
    const res = await download('files-a', id, { range });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/1000`);
    expect(res.headers.get('content-length')).toBe(String(end - start + 1));
    expect(Buffer.from(await res.arrayBuffer())).toEqual(all.subarray(start, end + 1));
  });

  it('answers 416 with the size to a range past the end, and the whole file to several ranges', async () => {
    const past = await download('files-a', id, { range: 'bytes=1000-' });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe('bytes */1000');
    expect((await past.json()).error.code).toBe('range_not_satisfiable');
    const several = await download('files-a', id, { range: 'bytes=0-1,5-6' });
    expect(several.status).toBe(200);
    expect((await several.arrayBuffer()).byteLength).toBe(1000);
  });

  it('answers 304 to If-None-Match with the ETag, and ignores a Range whose If-Range is another ETag', async () => {
    const first = await download('files-a', id);
    const etag = first.headers.get('etag')!;
    await first.arrayBuffer();
    const again = await download('files-a', id, { 'if-none-match': `"other", ${etag}` });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    const changed = await download('files-a', id, { range: 'bytes=0-9', 'if-range': '"other"' });
    expect(changed.status).toBe(200);
    const same = await download('files-a', id, { range: 'bytes=0-9', 'if-range': etag });
    expect(same.status).toBe(206);
  });
});

describe('isolation between companies', () => {
  it("never lists, reads or removes another company's file, by any id", async () => {
    const secret = await upload('files-a', Buffer.from('company a only'));
    const a = companies['files-a']!;
    const b = companies['files-b']!;
    const asB = { token: b.token };
    // a's document and file ids, and b's own document with a's file id.
    expect((await t.call('GET', `/api/documents/${a.document}/files`, asB)).status).toBe(404);
    expect((await download('files-b', secret.body.id, {}, a.document)).status).toBe(404);
    expect((await download('files-b', secret.body.id, {}, b.document)).status).toBe(404);
    expect((await t.call('DELETE', `/api/documents/${a.document}/files/${secret.body.id}`, asB)).status).toBe(404);
    expect((await t.call('DELETE', `/api/documents/${b.document}/files/${secret.body.id}`, asB)).status).toBe(404);
    expect((await t.call('POST', `/api/documents/${a.document}/files?name=x`, { ...asB, body: 'x' })).status).toBe(404);
    // Still there for a.
    const res = await download('files-a', secret.body.id);
    expect(await res.text()).toBe('company a only');
    // Each company's bytes are in its own folder.
    expect(existsSync(join(folderOf(a.id), secret.body.id))).toBe(true);
    expect(existsSync(join(folderOf(b.id), secret.body.id))).toBe(false);
  });
});

describe('failures leave nothing behind', () => {
  it.each([
    ['with a Content-Length', true],
    ['chunked', false],
  ])('an upload whose client goes away mid-way (%s) leaves no file, no temporary file and no row', async (_, withLength) => {
    const slug = `files-abort-${withLength ? 'length' : 'chunked'}`;
    const { id, token, document } = await createCompany(slug);
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => {
      const req = request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: `/api/documents/${document}/files?name=partial.bin`,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/octet-stream',
          ...(withLength ? { 'content-length': String(10 * 1024 * 1024) } : {}),
        },
      });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(3 * 1024 * 1024, 1), () => setTimeout(() => req.destroy(), 200));
    });
    // The server notices the closed socket and fails the upload: its request is logged once it has.
    const path = `"path":"/api/documents/${document}/files"`;
    await expect.poll(() => t.logs.some((line) => line.includes(path) && line.includes('"msg":"request"')), { timeout: 10_000 }).toBe(true);
    expect(readdirSync(folderOf(id))).toEqual([]);
    const list = await t.call('GET', `/api/documents/${document}/files`, { token });
    expect(list.body.items).toEqual([]);
    const company = await getCompany(t.ctx, slug);
    const reservations = await t.ctx.tenants.run(company, (db) => db.select().from(fileReservations));
    expect(reservations).toEqual([]);
  });

  it('deleting a file or its document removes the bytes', async () => {
    const a = companies['files-a']!;
    const up = await upload('files-a', Buffer.from('to go'));
    expect((await t.call('DELETE', `/api/documents/${a.document}/files/${up.body.id}`, { token: a.token })).status).toBe(204);
    expect(existsSync(join(folderOf(a.id), up.body.id))).toBe(false);
    expect((await download('files-a', up.body.id)).status).toBe(404);

    const doc = await t.call('POST', '/api/documents', { token: a.token, body: { title: 'Temp', content: 'x' } });
    const withFile = await t.app.request(`/api/documents/${doc.body.id}/files?name=x`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}` },
      body: 'bytes',
    });
    const file = await withFile.json();
    expect((await t.call('DELETE', `/api/documents/${doc.body.id}`, { token: a.token })).status).toBe(204);
    expect(existsSync(join(folderOf(a.id), file.id))).toBe(false);
  });
});

describe('the company folder', () => {
  it('is made by the provisioning saga and removed by its undo when a later step fails', async () => {
    t.ctx.beforeProvisionStep = (step) => {
      if (step === 'first_admin') throw new Error('injected failure');
    };
    let failed: { status: number; body: { error: { details: { companyId: string } } } };
    try {
      failed = await t.call('POST', '/api/companies', {
        token: t.adminToken,
        body: { name: 'x', slug: 'files-fail', admin: { email: 'x@f.test' } },
      });
    } finally {
      t.ctx.beforeProvisionStep = undefined;
    }
    expect(failed.status).toBe(500);
    expect(existsSync(folderOf(failed.body.error.details.companyId))).toBe(false);
    const logs = await t.call('GET', '/api/companies/files-fail/logs', { token: t.adminToken });
    const created = logs.body.items.find((l: { action: string }) => l.action === 'created');
    expect(created.details.undone).toMatchObject({ files: true });

    const made = await createCompany('files-made');
    expect(existsSync(folderOf(made.id))).toBe(true);
  });

  it('is removed with the company', async () => {
    const { id } = await createCompany('files-gone');
    await upload('files-gone', Buffer.from('bye'));
    expect(readdirSync(folderOf(id))).toHaveLength(1);
    const res = await t.call('DELETE', '/api/companies/files-gone', { token: t.adminToken, headers: { 'x-confirm': 'files-gone' } });
    expect(res.status).toBe(200);
    expect(existsSync(folderOf(id))).toBe(false);
  });
});

describe('maxStorageBytes', () => {
  const MB = 1024 * 1024;

  async function uploadOver(slug: string, size: number, withLength: boolean) {
    const { token, document } = companies[slug]!;
    const res = await fetch(`${base}/api/documents/${document}/files?name=q.bin`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...(withLength ? { 'content-length': String(size) } : {}) },
      body: streamOf(fileBytes(size).chunks()),
      duplex: 'half',
    } as RequestInit);
    return { status: res.status, body: await res.json() };
  }

  const stats = async (slug: string) => (await t.call('GET', `/api/companies/${slug}/stats`, { token: t.adminToken })).body;

  it('is set on create and update, and its usage is in /stats', async () => {
    const made = await createCompany('files-quota');
    const patched = await t.call('PATCH', '/api/companies/files-quota', { token: t.adminToken, body: { maxStorageBytes: 10 * MB } });
    expect(patched.body.maxStorageBytes).toBe(10 * MB);
    const bad = await t.call('PATCH', '/api/companies/files-quota', { token: t.adminToken, body: { maxStorageBytes: -1 } });
    expect(bad.status).toBe(400);
    const created = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'q2', slug: 'files-quota-2', maxStorageBytes: 5, admin: { email: 'a@q2.test' } },
    });
    expect(created.body.maxStorageBytes).toBe(5);
    await expect.poll(async () => (await t.ctx.tenants.company(made.id))?.maxStorageBytes, { timeout: 10_000 }).toBe(10 * MB);
    expect(await stats('files-quota')).toMatchObject({ storageBytes: 0, files: 0, maxStorageBytes: 10 * MB });
  });

  it('refuses an upload whose Content-Length would pass it with 409 before storing a byte', async () => {
    const { id } = companies['files-quota']!;
    const refused = await uploadOver('files-quota', 11 * MB, true);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('limit_exceeded');
    expect(existsSync(folderOf(id)) ? readdirSync(folderOf(id)) : []).toEqual([]);
  });

  it('is never passed by 8 concurrent uploads, with or without a length, and leaves no holds', async () => {
    const { id } = companies['files-quota']!;
    const size = 3 * MB;
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => uploadOver('files-quota', size, i % 2 === 0)));
    const stored = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 409);
    expect(stored.length + refused.length, JSON.stringify(results.map((r) => r.status))).toBe(8);
    expect(stored.length).toBeGreaterThanOrEqual(2);
    expect(stored.length).toBeLessThanOrEqual(3);
    for (const r of refused) expect(r.body.error.code).toBe('limit_exceeded');
    const figures = await stats('files-quota');
    expect(figures).toMatchObject({ storageBytes: stored.length * size, files: stored.length });
    expect(figures.storageBytes).toBeLessThanOrEqual(10 * MB);
    // Exactly the stored files are in the folder: no temporary file of a refused upload.
    expect(readdirSync(folderOf(id)).sort()).toEqual(stored.map((r) => r.body.id).sort());
    const company = await getCompany(t.ctx, 'files-quota');
    expect(await t.ctx.tenants.run(company, (db) => db.select().from(fileReservations))).toEqual([]);
    // What is left still takes a file that fits, and refuses one byte more.
    const left = 10 * MB - figures.storageBytes;
    expect((await uploadOver('files-quota', left + 1, false)).status).toBe(409);
    expect((await uploadOver('files-quota', left, false)).status).toBe(201);
  }, 60_000);
});
