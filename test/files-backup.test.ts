// Document files in backups, against real PostgreSQL and a real folder: a backup holds the files
// of its snapshot (listed in its manifest with their SHA-256); a restore in place, an import of the
// exported archive as a new company, and archive then unarchive all put them back with the same
// bytes (a restore in place also removes the bytes of files added after the backup); an archive
// written before files existed (no `files` in its manifest) is still read.
import { Readable } from 'node:stream';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readArchive, type ManifestHead } from '../src/operations/backups/archive-format.ts';
import { writeArchive } from '../src/operations/backups/archive-writer.ts';
import { openBackupArchive, takeBackup } from '../src/operations/backups/backups.ts';
import { restoreCompany } from '../src/operations/backups/restore-in-place.ts';
import { fileStorage } from '../src/data-plane/files/index.ts';
import { companyToken } from './support/company-login.ts';
import { digestOf, fileBytes, streamOf } from './support/file-bytes.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;

interface Who {
  id: string;
  slug: string;
  token: string;
  document: string;
}

async function createCompany(slug: string): Promise<Who> {
  const admin = { email: `boss@${slug}.test`, password: 'boss-password' };
  const created = await t.call('POST', '/api/companies', { token: t.adminToken, body: { name: slug, slug, admin } });
  expect(created.status, created.text).toBe(201);
  const token = await companyToken(t, admin.email, admin.password, slug);
  const document = (await t.call('POST', '/api/documents', { token, body: { title: 'Deed', content: 'x' } })).body.id;
  return { id: created.body.id, slug, token, document };
}

async function upload(who: Who, size: number) {
  const res = await t.app.request(`/api/documents/${who.document}/files?name=f.bin`, {
    method: 'POST',
    headers: { authorization: `Bearer ${who.token}`, 'content-type': 'application/octet-stream' },
    body: streamOf(fileBytes(size).chunks()),
    duplex: 'half',
  } as RequestInit);
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; sha256: string; size: number };
}

/** Every file of the document, with the SHA-256 of the bytes it downloads as. */
async function filesOf(who: Who, document = who.document) {
  const list = await t.call('GET', `/api/documents/${document}/files`, { token: who.token });
  expect(list.status).toBe(200);
  const seen: { id: string; sha256: string; downloaded: string }[] = [];
  for (const file of list.body.items as { id: string; sha256: string }[]) {
    const res = await t.app.request(`/api/documents/${document}/files/${file.id}`, { headers: { authorization: `Bearer ${who.token}` } });
    expect(res.status).toBe(200);
    seen.push({ id: file.id, sha256: file.sha256, downloaded: (await digestOf(res.body)).sha256 });
  }
  return seen.sort((a, b) => a.id.localeCompare(b.id));
}

beforeAll(async () => {
  t = await createTestSilo();
});
afterAll(async () => {
  await t?.close();
});

describe('files in backups', () => {
  it('are listed in the manifest and put back by a restore in place', async () => {
    const who = await createCompany('fb-restore');
    const kept = await upload(who, 5 * 1024 * 1024 + 3);
    const gone = await upload(who, 1000);
    const backup = await takeBackup(t.ctx, who.slug, 'test');
    const { archive } = await openBackupArchive(t.ctx, who.slug, backup.id);
    const manifest = await readArchive(archive);
    expect(manifest.files?.map((f) => f.id).sort()).toEqual([kept.id, gone.id].sort());
    expect(manifest.files?.find((f) => f.id === kept.id)).toEqual({ id: kept.id, size: kept.size, sha256: kept.sha256 });

    const before = await filesOf(who);
    await t.call('DELETE', `/api/documents/${who.document}/files/${gone.id}`, { token: who.token });
    const added = await upload(who, 10);
    await restoreCompany(t.ctx, who.slug, backup.id, 'test');
    const after = await filesOf(who);
    expect(after).toEqual(before);
    for (const file of after) expect(file.downloaded).toBe(file.sha256);
    // The file added after the backup has no row any more: its bytes are swept with the restore.
    const stored = (await fileStorage(t.config).list(who.id)).map((f) => f.id).sort();
    expect(stored).toEqual([kept.id, gone.id].sort());
    expect(stored).not.toContain(added.id);
  });

  it('go with an exported archive into an imported company, in its own storage', async () => {
    const who = await createCompany('fb-export');
    const files = [await upload(who, 2 * 1024 * 1024), await upload(who, 0)];
    const backup = await takeBackup(t.ctx, who.slug, 'test');
    const exported = await t.app.request(`/api/companies/${who.slug}/backups/${backup.id}/archive`, {
      headers: { authorization: `Bearer ${t.adminToken}` },
    });
    const bytes = Buffer.from(await exported.arrayBuffer());
    const imported = await t.call('POST', '/api/companies/import?slug=fb-imported', {
      token: t.adminToken,
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(imported.status, imported.text).toBe(201);
    const token = await companyToken(t, 'boss@fb-export.test', 'boss-password', 'fb-imported');
    const copy = { id: imported.body.id, slug: 'fb-imported', token, document: who.document };
    const seen = await filesOf(copy);
    expect(seen.map((f) => f.id).sort()).toEqual(files.map((f) => f.id).sort());
    for (const file of seen) expect(file.downloaded).toBe(file.sha256);
    for (const file of files) expect(existsSync(join(t.config.files.dir, imported.body.id, file.id))).toBe(true);
  });

  it('stay in storage while the company is archived, and are there after it is unarchived', async () => {
    const who = await createCompany('fb-archive');
    await upload(who, 4096);
    const before = await filesOf(who);
    expect((await t.call('PATCH', `/api/companies/${who.slug}`, { token: t.adminToken, body: { status: 'archived' } })).status).toBe(200);
    expect((await t.call('PATCH', `/api/companies/${who.slug}`, { token: t.adminToken, body: { status: 'active' } })).status).toBe(200);
    expect(await filesOf(who)).toEqual(before);
  });

  it('are absent from an archive written before files existed, which is still read and imported', async () => {
    const who = await createCompany('fb-old');
    const backup = await takeBackup(t.ctx, who.slug, 'test');
    // The same archive as an older Silo wrote it: no `files` in the manifest.
    const tables = new Map<string, Buffer[]>();
    const manifest = await readArchive((await openBackupArchive(t.ctx, who.slug, backup.id)).archive, async (table, data) => {
      const chunks: Buffer[] = [];
      for await (const chunk of data) chunks.push(chunk);
      tables.set(table.name, chunks);
    });
    expect(manifest.files).toEqual([]);
    const { files: _none, tables: withFigures, ...older } = manifest;
    const old: ManifestHead = { ...older, formatVersion: 2, tables: withFigures.map(({ name, columns }) => ({ name, columns })) };
    const chunks: Buffer[] = [];
    const written = writeArchive(old, async (table) => Readable.from(tables.get(table.name)!));
    for await (const chunk of written.archive) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    expect((await readArchive(Readable.from([bytes]))).files).toBeUndefined();
    const imported = await t.call('POST', '/api/companies/import?slug=fb-old-copy', {
      token: t.adminToken,
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(imported.status, imported.text).toBe(201);
  });
});
