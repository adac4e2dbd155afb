// Stored files that no row names, against real PostgreSQL and a real folder: `silo reconcile`
// reports them per company and removes them with fix, but never a file a row names, a file written
// within the grace period (an upload about to write its row), a file an upload holds room for, nor
// an upload's temporary file. (The S3 case is in files-s3.test.ts, the restore in place in
// files-backup.test.ts.)
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCompany } from '../src/control-plane/company-records.ts';
import { openAsCompany } from '../src/data-plane/company-database.ts';
import { fileStorage } from '../src/data-plane/files/index.ts';
import { reconcile } from '../src/operations/reconcile/reconcile.ts';
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

const anHourAgo = () => new Date(Date.now() - 60 * 60_000);

describe('files no row names', () => {
  it('are reported by reconcile and removed with fix; named, recent, held and temporary files stay', async () => {
    const slug = 'sweep-folder';
    const admin = { email: `boss@${slug}.test`, password: 'boss-password' };
    const created = await t.call('POST', '/api/companies', { token: t.adminToken, body: { name: slug, slug, admin } });
    expect(created.status, created.text).toBe(201);
    const companyId = created.body.id as string;
    const token = await companyToken(t, admin.email, admin.password, slug);
    const document = (await t.call('POST', '/api/documents', { token, body: { title: 'Deed', content: 'x' } })).body.id;
    const res = await t.app.request(`/api/documents/${document}/files?name=a.bin`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      body: streamOf(fileBytes(2000).chunks()),
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(201);
    const named = (await res.json()).id as string;

    const storage = fileStorage(t.config);
    const folder = join(t.config.files.dir, companyId);
    const put = async (id: string) => {
      await storage.write(companyId, id, fileBytes(100).chunks());
      return id;
    };
    const unreferenced = [await put(randomUUID()), await put(randomUUID())];
    const recent = await put(randomUUID());
    const held = await put(randomUUID());
    const temporary = join(folder, `.${randomUUID()}.tmp`);
    writeFileSync(temporary, 'part of an upload');
    // An upload in progress holds room under its file's id.
    const sql = await openAsCompany(t.ctx, await getCompany(t.ctx, companyId));
    await sql`insert into file_reservations (id, bytes) values (${held}, 100)`;
    await sql.end();
    for (const path of [named, ...unreferenced, held].map((id) => join(folder, id)).concat(temporary)) {
      await utimes(path, anHourAgo(), anHourAgo());
    }

    const mine = (findings: Awaited<ReturnType<typeof reconcile>>) => findings.filter((f) => f.companyId === companyId);
    const seen = mine(await reconcile(t.ctx, { fix: false, actor: 'test' }));
    expect(seen).toEqual([{ kind: 'unreferenced_files', serverId: expect.any(String), name: `${slug}: 2 files`, companyId, fixed: false }]);
    for (const id of unreferenced) expect(existsSync(join(folder, id))).toBe(true);

    const fixed = mine(await reconcile(t.ctx, { fix: true, actor: 'test' }));
    expect(fixed).toEqual([expect.objectContaining({ kind: 'unreferenced_files', fixed: true })]);
    for (const id of unreferenced) expect(existsSync(join(folder, id))).toBe(false);
    for (const id of [named, recent, held]) expect(existsSync(join(folder, id))).toBe(true);
    expect(existsSync(temporary)).toBe(true);
    expect(mine(await reconcile(t.ctx, { fix: false, actor: 'test' }))).toEqual([]);

    // The named file still downloads whole.
    const download = await t.app.request(`/api/documents/${document}/files/${named}`, { headers: { authorization: `Bearer ${token}` } });
    expect(download.status).toBe(200);
    expect((await download.arrayBuffer()).byteLength).toBe(2000);
  });
});
