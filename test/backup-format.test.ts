// The archive's format version: an archive in format 1 (figures in the manifest, as Silo wrote
// them before) is still read and restored exactly; a format newer than this Silo reads answers 409
// with the reason and creates nothing; a format 2 archive whose figures do not match its rows
// (its trailer made to fit) is caught by the restore's read-back and creates nothing.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCompany } from '../src/control-plane/company-records.ts';
import { companyDatabaseUrl } from '../src/data-plane/company-database.ts';
import { takeBackup } from '../src/operations/backups/backups.ts';
import { formatOneArchive } from './support/backup-format-1.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

const TABLES = ['users', 'documents', 'chat_sessions', 'chat_messages'] as const;
let t: TestSilo;

async function withCompanyDb<T>(slug: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(await companyDatabaseUrl(t.ctx, (await findCompany(t.ctx, slug))!), { max: 1, onnotice: () => {} });
  try {
    return await run(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

function contents(slug: string) {
  return withCompanyDb(slug, async (sql) => {
    const result: Record<string, unknown> = {};
    for (const table of TABLES) {
      [result[table]] = await sql`select count(*)::int as rows, md5(string_agg(t::text, '|' order by t::text)) from ${sql(table)} t`;
    }
    return result;
  });
}

async function upload(slug: string, archive: Buffer) {
  const res = await t.app.request(`/api/companies/import?slug=${slug}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/octet-stream' },
    body: new Uint8Array(archive),
  });
  const text = await res.text();
  return { status: res.status, text, body: text ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
  t = await createTestSilo();
  const created = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: 'Source', slug: 'source', admin: { email: 'boss@source.test', password: 'boss-password' } },
  });
  expect(created.status, created.text).toBe(201);
  await withCompanyDb('source', async (sql) => {
    await sql`
      insert into documents (title, content, metadata)
      select 'Doc ' || i || ' 日本', repeat(E'line\\n' || i, 1 + i % 7), jsonb_build_object('n', i)
      from generate_series(1, 600) i`;
    await sql`insert into chat_sessions (user_id, title) select id, 'Session' from users`;
    await sql`insert into chat_messages (session_id, role, content) select id, 'user', 'hello ' || g from chat_sessions, generate_series(1, 300) g`;
  });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('archive format versions', () => {
  it('reads and restores an archive in format 1 exactly', async () => {
    const res = await upload('from-format-one', await formatOneArchive(t, 'source'));
    expect(res.status, res.text).toBe(201);
    expect(await contents('from-format-one')).toEqual(await contents('source'));
  });

  it('refuses a format newer than it reads with 409, and creates nothing', async () => {
    const res = await upload('from-the-future', await formatOneArchive(t, 'source', 3));
    expect(res.status, res.text).toBe(409);
    expect(res.body.error.message).toContain('backup format 3');
    expect(await findCompany(t.ctx, 'from-the-future')).toBeUndefined();
  });

  it('catches a table whose rows do not match its figures when it reads the restored table back', async () => {
    const backup = await takeBackup(t.ctx, 'source', 'test');
    const body = gunzipSync(readFileSync(join(t.config.backups.dir, backup.storageKey))).subarray(0, -36);
    // Walk to the first table's figures: the head, the manifest, then its frames up to a zero length.
    let at = body.indexOf(0x0a) + 1;
    at += 4 + body.readUInt32BE(at);
    while (body.readUInt32BE(at) !== 0) at += 4 + body.readUInt32BE(at);
    at += 4;
    const figures = JSON.parse(body.subarray(at + 4, at + 4 + body.readUInt32BE(at)).toString());
    const altered = Buffer.from(JSON.stringify({ ...figures, rows: figures.rows + 1 }));
    const length = Buffer.alloc(4);
    length.writeUInt32BE(altered.length);
    const forged = Buffer.concat([body.subarray(0, at), length, altered, body.subarray(at + 4 + body.readUInt32BE(at))]);
    const archive = gzipSync(Buffer.concat([forged, Buffer.from('END\n'), createHash('sha256').update(forged).digest()]));
    const res = await upload('forged', archive);
    expect(res.status, res.text).toBe(500);
    expect(res.body.error.message).toContain('step "verify"');
    expect((await findCompany(t.ctx, 'forged'))?.status).toBe('failed');
  });
});
