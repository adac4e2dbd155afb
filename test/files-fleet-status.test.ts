// The fleet's document files on GET /api/system/status, against real PostgreSQL and a real folder:
// the bytes and files the storage holds for every company, summed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { companyToken } from './support/company-login.ts';
import { fileBytes, streamOf } from './support/file-bytes.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;

beforeAll(async () => {
  t = await createTestSilo();
});
afterAll(async () => {
  await t?.close();
});

async function companyWithFiles(slug: string, sizes: number[]) {
  const admin = { email: `boss@${slug}.test`, password: 'boss-password' };
  const created = await t.call('POST', '/api/companies', { token: t.adminToken, body: { name: slug, slug, admin } });
  expect(created.status, created.text).toBe(201);
  const token = await companyToken(t, admin.email, admin.password, slug);
  const document = (await t.call('POST', '/api/documents', { token, body: { title: 'Deed', content: 'x' } })).body.id;
  for (const size of sizes) {
    const res = await t.app.request(`/api/documents/${document}/files?name=f.bin`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      body: streamOf(fileBytes(size).chunks()),
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(201);
  }
}

describe('storage used across the fleet', () => {
  it('sums the stored files of every company on the status, for system admins only', async () => {
    await companyWithFiles('fleet-files-a', [1000, 2000]);
    await companyWithFiles('fleet-files-b', [30_000]);
    await companyWithFiles('fleet-files-c', []);
    const status = await t.call('GET', '/api/system/status', { token: t.adminToken });
    expect(status.status).toBe(200);
    expect(status.body.files).toEqual({
      storage: 'folder',
      maxFileBytes: t.config.files.maxBytes,
      used: { bytes: 33_000, files: 3, companies: 3, unreadable: 0, measuredAt: expect.any(String) },
    });
    // Only system admins see it.
    const token = await companyToken(t, 'boss@fleet-files-a.test', 'boss-password', 'fleet-files-a');
    expect((await t.call('GET', '/api/system/status', { token })).status).toBe(403);
  });
});
