// Backup archives in an S3 bucket, against a local S3 stand-in (test/support/s3-stand-in.ts) and
// real PostgreSQL: a backup is listed and its archive is an object under the configured prefix
// (nothing in the backup folder); it restores in place exactly and downloads as stored; retention
// and DELETE remove the objects; a corrupted object is refused with 400 and changes nothing; an
// archive larger than one part goes up in several and restores, and an upload that fails mid-way
// leaves a failed backup, no object and no open upload; a backup marked failed while it ran (its
// Silo paused past the heartbeat's lapse) leaves no object when it ends.
import { existsSync, readdirSync } from 'node:fs';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { companyBackups } from '../src/control-plane/schema.ts';
import { takeBackup } from '../src/operations/backups/backups.ts';
import { applyRetention } from '../src/operations/backups/schedule.ts';
import { companyToken } from './support/company-login.ts';
import { fileBytes, streamOf } from './support/file-bytes.ts';
import { type S3StandIn, startS3StandIn } from './support/s3-stand-in.ts';
import { tableContents, withTenantDb as withDb } from './support/tenant-db.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

const BUCKET = 'silo-backups';
const PREFIX = 'tenants/archives/';
let s3: S3StandIn;
let t: TestSilo;

const objectUrl = (key: string) => `${s3.endpoint}/${BUCKET}/${PREFIX}${key}`;
/** The stand-in checks no signature, only that there is one. */
const signed = { authorization: 'AWS4-HMAC-SHA256 stand-in' };
/** The keys of the company's archives in the bucket, without the prefix. */
const archiveKeys = async (companyId: string) =>
  ((await s3.objects(BUCKET)) ?? [])
    .filter((key) => key.startsWith(`${PREFIX}${companyId}/`))
    .map((key) => key.slice(PREFIX.length))
    .sort();

async function createCompany(slug: string) {
  const admin = { email: `boss@${slug}.test`, password: 'boss-password' };
  const created = await t.call('POST', '/api/companies', { token: t.adminToken, body: { name: slug, slug, admin } });
  expect(created.status, created.text).toBe(201);
  return { id: created.body.id as string, slug, admin };
}

const withTenantDb = <T>(slug: string, run: (sql: postgres.Sql) => Promise<T>) => withDb(t, slug, run);
const contents = (slug: string) => tableContents(t, slug, ['users', 'documents', 'chat_sessions', 'chat_messages']);

async function seed(slug: string) {
  await withTenantDb(slug, async (sql) => {
    await sql`
      insert into documents (title, content, metadata)
      select 'Doc ' || i || ' 日本', repeat(E'line\\n' || i, 1 + i % 7), jsonb_build_object('n', i) from generate_series(1, 800) i`;
    await sql`insert into chat_sessions (user_id, title) select id, 'Session' from users`;
    await sql`insert into chat_messages (session_id, role, content) select id, 'user', 'hello ' || g from chat_sessions, generate_series(1, 300) g`;
  });
}

/** Waits for the company's log to say `restored` (a restore answers 202 and goes on in the background). */
async function restoredIn(slug: string) {
  for (let tries = 0; tries < 1200; tries++) {
    const logs = await t.call('GET', `/api/companies/${slug}/logs`, { token: t.adminToken });
    const ended = logs.body.items.find(
      (e: { action: string; status: string }) => e.action === 'restored' || (e.action.startsWith('restore') && e.status === 'failed'),
    );
    if (ended) return expect(ended.action, JSON.stringify(ended)).toBe('restored');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the restore did not end');
}

beforeAll(async () => {
  s3 = await startS3StandIn();
  // The bucket is the operator's to make; Silo only writes into it.
  expect((await fetch(`${s3.endpoint}/${BUCKET}`, { method: 'PUT', headers: signed })).status).toBe(200);
  t = await createTestSilo({
    env: {
      SILO_BACKUP_S3_BUCKET: BUCKET,
      SILO_BACKUP_S3_PREFIX: PREFIX,
      SILO_BACKUP_S3_ENDPOINT: s3.endpoint,
      SILO_BACKUP_S3_FORCE_PATH_STYLE: 'true',
      SILO_BACKUP_S3_ACCESS_KEY_ID: 'stand-in',
      SILO_BACKUP_S3_SECRET_ACCESS_KEY: 'stand-in-secret',
    },
  });
});

afterAll(async () => {
  await t?.close();
  await s3?.close();
});

describe('backups in S3', () => {
  it('lists, restores in place, downloads as stored and removes backups whose archives are objects', async () => {
    const company = await createCompany('s3-round-trip');
    await seed(company.slug);
    const taken = await t.call('POST', `/api/companies/${company.slug}/backups`, { token: t.adminToken });
    expect(taken.status, taken.text).toBe(202);
    let backup = taken.body;
    for (let tries = 0; backup.status === 'running' && tries < 600; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      backup = (await t.call('GET', `/api/companies/${company.slug}/backups/${backup.id}`, { token: t.adminToken })).body;
    }
    expect(backup.status, JSON.stringify(backup)).toBe('completed');
    const listed = await t.call('GET', `/api/companies/${company.slug}/backups`, { token: t.adminToken });
    expect(listed.body.items.map((b: { id: string }) => b.id)).toEqual([backup.id]);
    expect(await archiveKeys(company.id)).toEqual([`${company.id}/${backup.id}.silo`]);
    expect(existsSync(t.config.backups.dir) ? readdirSync(t.config.backups.dir) : []).toEqual([]);

    const stored = Buffer.from(await (await fetch(objectUrl(`${company.id}/${backup.id}.silo`), { headers: signed })).arrayBuffer());
    expect(stored.length).toBe(backup.sizeBytes);
    const downloaded = await t.app.request(`/api/companies/${company.slug}/backups/${backup.id}/archive`, {
      headers: { authorization: `Bearer ${t.adminToken}` },
    });
    expect(downloaded.status).toBe(200);
    expect(Buffer.from(await downloaded.arrayBuffer()).equals(stored)).toBe(true);

    const before = await contents(company.slug);
    await withTenantDb(company.slug, (sql) => sql`delete from chat_messages where content like '%1'`);
    expect(await contents(company.slug)).not.toEqual(before);
    const restored = await t.call('POST', `/api/companies/${company.slug}/restore`, { token: t.adminToken, body: { backupId: backup.id } });
    expect(restored.status, restored.text).toBe(202);
    await restoredIn(company.slug);
    expect(await contents(company.slug)).toEqual(before);
    expect((await companyToken(t, company.admin.email, company.admin.password, company.slug)).length).toBeGreaterThan(0);

    const removed = await t.call('DELETE', `/api/companies/${company.slug}/backups/${backup.id}`, { token: t.adminToken });
    expect(removed.status).toBe(204);
    expect(await archiveKeys(company.id)).toEqual([]);
  });

  it('removes the oldest scheduled backups beyond `keep`, objects included', async () => {
    const company = await createCompany('s3-retention');
    const taken = [];
    for (let i = 0; i < 3; i++) taken.push(await takeBackup(t.ctx, company.slug, 'test', 'scheduled'));
    expect(await archiveKeys(company.id)).toEqual(taken.map((b) => `${company.id}/${b.id}.silo`).sort());
    expect(await applyRetention(t.ctx, company.id, 1)).toBe(2);
    expect(await archiveKeys(company.id)).toEqual([`${company.id}/${taken[2]!.id}.silo`]);
    await t.call('DELETE', `/api/companies/${company.slug}/backups/${taken[2]!.id}`, { token: t.adminToken });
  });

  it('refuses a corrupted object with 400 and changes nothing', async () => {
    const company = await createCompany('s3-corrupted');
    await seed(company.slug);
    const backup = await takeBackup(t.ctx, company.slug, 'test');
    const url = objectUrl(`${company.id}/${backup.id}.silo`);
    const intact = Buffer.from(await (await fetch(url, { headers: signed })).arrayBuffer());
    await withTenantDb(company.slug, (sql) => sql`delete from documents where title like 'Doc 1%'`);
    const before = await contents(company.slug);
    const flipped = Buffer.from(intact);
    flipped[Math.floor(flipped.length / 2)]! ^= 0xff;
    for (const broken of [flipped, intact.subarray(0, Math.floor(intact.length * 0.7))]) {
      expect((await fetch(url, { method: 'PUT', headers: signed, body: broken })).status).toBe(200);
      const res = await t.call('POST', `/api/companies/${company.slug}/restore`, { token: t.adminToken, body: { backupId: backup.id } });
      expect(res.status, res.text).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(await contents(company.slug)).toEqual(before);
    }
  });

  it('uploads a large archive in parts; a failed part leaves a failed backup, no object and no open upload', async () => {
    const company = await createCompany('s3-large');
    const token = await companyToken(t, company.admin.email, company.admin.password, company.slug);
    const document = (await t.call('POST', '/api/documents', { token, body: { title: 'Scans', content: 'big' } })).body.id;
    // Random bytes do not compress: the archive holds about 40 MB, more than two parts of 16 MiB.
    const res = await t.app.request(`/api/documents/${document}/files?name=scan.bin`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      body: streamOf(fileBytes(40 * 1024 * 1024).chunks()),
      duplex: 'half',
    } as RequestInit);
    expect(res.status, await res.clone().text()).toBe(201);

    // More failures than the SDK's retries: the store stays broken for this backup.
    s3.failParts(100);
    await expect(takeBackup(t.ctx, company.slug, 'test')).rejects.toThrow();
    s3.failParts(0);
    const listed = await t.call('GET', `/api/companies/${company.slug}/backups`, { token: t.adminToken });
    expect(listed.body.items.map((b: { status: string }) => b.status)).toEqual(['failed']);
    expect(await archiveKeys(company.id)).toEqual([]);
    expect(s3.openUploads()).toEqual([]);

    const requestsBefore = s3.requests.length;
    const backup = await takeBackup(t.ctx, company.slug, 'test');
    expect(backup.sizeBytes).toBeGreaterThan(32 * 1024 * 1024);
    expect(s3.requests.slice(requestsBefore).filter((r) => r.startsWith('PUT')).length).toBeGreaterThanOrEqual(3);
    expect(await archiveKeys(company.id)).toEqual([`${company.id}/${backup.id}.silo`]);
    const restored = await t.call('POST', `/api/companies/${company.slug}/restore`, { token: t.adminToken, body: { backupId: backup.id } });
    expect(restored.status, restored.text).toBe(202);
    await restoredIn(company.slug);
  });

  it('leaves no archive when the backup was marked failed while it ran (a Silo paused past its heartbeat)', async () => {
    const company = await createCompany('s3-paused');
    await seed(company.slug);
    // What another instance's scheduler does once the heartbeat has lapsed (stale.ts), done here
    // while the archive's upload is held: the upload then completes, and must not count as taken.
    const reason = 'interrupted: the Silo taking it stopped before it completed';
    let release!: () => void;
    s3.holdPuts(new Promise<void>((resolve) => (release = resolve)));
    const seen = s3.requests.length;
    const taking = takeBackup(t.ctx, company.slug, 'test');
    taking.catch(() => {});
    while (!s3.requests.slice(seen).some((r) => r.startsWith(`PUT /${BUCKET}/${PREFIX}${company.id}/`))) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await t.ctx.db.update(companyBackups).set({ status: 'failed', error: reason }).where(eq(companyBackups.companyId, company.id));
    release();
    await expect(taking).rejects.toThrow(/marked failed while it ran/);
    const [row] = await t.ctx.db.select().from(companyBackups).where(eq(companyBackups.companyId, company.id));
    expect(row).toMatchObject({ status: 'failed', error: reason });
    expect(await archiveKeys(company.id)).toEqual([]);
    expect(s3.openUploads()).toEqual([]);
  });
});
