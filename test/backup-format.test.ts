// The archive's format version and codec: an archive in format 1 (figures in the manifest, as Silo
// wrote them before) is still read and restored exactly; format 3 is read with either codec; a
// format newer than this Silo reads answers 409 with the reason and creates nothing; a format 3
// archive whose figures do not match its rows is refused with 400 as it is read, and a format 2 one
// (which the reader cannot check that way; its trailer made to fit) by the restore's read-back.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCompany } from '../src/control-plane/company-records.ts';
import { companyDatabaseUrl } from '../src/data-plane/company-database.ts';
import { takeBackup } from '../src/operations/backups/backups.ts';
import { firstFiguresAt, formatThree, openFormatThree } from './support/archive-bytes.ts';
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

  it('reads format 3 with either codec: a gzip archive restores the same data as the brotli one', async () => {
    const backup = await takeBackup(t.ctx, 'source', 'test');
    const stored = readFileSync(join(t.config.backups.dir, backup.storageKey));
    const { codec, content } = openFormatThree(stored);
    expect(codec).toBe('brotli');
    const res = await upload('from-gzip', formatThree(content, 'gzip'));
    expect(res.status, res.text).toBe(201);
    expect(await contents('from-gzip')).toEqual(await contents('source'));
  });

  it('refuses a format newer than it reads with 409, and creates nothing', async () => {
    // A later format inside gzip, as formats 1 and 2 were written, and one with a plain head and a codec it does not know.
    const later = [await formatOneArchive(t, 'source', 4), Buffer.from('SILO-BACKUP 4 zstd\n\0\0\0\x10whatever follows')];
    for (const [i, archive] of later.entries()) {
      const res = await upload(`from-the-future-${i}`, archive);
      expect(res.status, res.text).toBe(409);
      expect(res.body.error.message).toContain('backup format 4');
      expect(await findCompany(t.ctx, `from-the-future-${i}`)).toBeUndefined();
    }
  });

  it('refuses a format 3 archive whose rows do not match its figures with 400 as it reads it', async () => {
    const backup = await takeBackup(t.ctx, 'source', 'test');
    const { content } = openFormatThree(readFileSync(join(t.config.backups.dir, backup.storageKey)));
    const at = firstFiguresAt(content);
    const figures = JSON.parse(content.subarray(at + 4, at + 4 + content.readUInt32BE(at)).toString());
    const altered = Buffer.from(
      JSON.stringify({ ...figures, checksum: figures.checksum.replace(/^./, (c: string) => (c === '0' ? '1' : '0')) }),
    );
    const forged = Buffer.concat([content.subarray(0, at + 4), altered, content.subarray(at + 4 + altered.length)]);
    const res = await upload('forged-three', formatThree(forged));
    expect(res.status, res.text).toBe(400);
    expect(res.body.error.message).toMatch(/rows of table \w+ do not match its checksum/);
    expect(await findCompany(t.ctx, 'forged-three')).toBeUndefined();
  });

  it('catches a format 2 table whose rows do not match its figures when it reads the restored table back', async () => {
    const backup = await takeBackup(t.ctx, 'source', 'test');
    const { content } = openFormatThree(readFileSync(join(t.config.backups.dir, backup.storageKey)));
    // The same content as format 2 wrote it: the head inside, the manifest saying 2, the trailer over every byte.
    const manifest = JSON.parse(content.subarray(4, 4 + content.readUInt32BE(0)).toString());
    const json = Buffer.from(JSON.stringify({ ...manifest, formatVersion: 2 }));
    const length = Buffer.alloc(4);
    length.writeUInt32BE(json.length);
    const rest = content.subarray(4 + content.readUInt32BE(0), -36);
    const body = Buffer.concat([Buffer.from('SILO-BACKUP 2\n'), length, json, rest]);
    // Walk to the first table's figures: the head, the manifest, then its frames up to a zero length.
    let at = body.indexOf(0x0a) + 1;
    at += 4 + body.readUInt32BE(at);
    while (body.readUInt32BE(at) !== 0) at += 4 + body.readUInt32BE(at);
    at += 4;
    const figures = JSON.parse(body.subarray(at + 4, at + 4 + body.readUInt32BE(at)).toString());
    const altered = Buffer.from(JSON.stringify({ ...figures, rows: figures.rows + 1 }));
    length.writeUInt32BE(altered.length);
    const forged = Buffer.concat([body.subarray(0, at), length, altered, body.subarray(at + 4 + body.readUInt32BE(at))]);
    const archive = gzipSync(Buffer.concat([forged, Buffer.from('END\n'), createHash('sha256').update(forged).digest()]));
    const res = await upload('forged', archive);
    expect(res.status, res.text).toBe(500);
    expect(res.body.error.message).toContain('step "verify"');
    expect((await findCompany(t.ctx, 'forged'))?.status).toBe('failed');
  });
});
