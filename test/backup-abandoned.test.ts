// A backup whose archive is read no further midway through a table (its storage write failed) must
// not leave its COPY behind: the server's session would stay blocked sending to a socket nobody
// reads, its snapshot and its locks held (a migration or a restore could not take the table).
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { findCompany } from '../src/control-plane/company-records.ts';
import { takeSnapshot } from '../src/operations/backups/snapshot.ts';
import { createTestSilo, namesOf, serverUrl, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
beforeAll(async () => {
  t = await createTestSilo();
});
afterAll(async () => {
  if (!t) return;
  await t.admin`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'silo-backup'`;
  await t.close();
});

it('ends the session of a backup whose reader went away midway through a table', async () => {
  const created = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: 'abandoned', slug: 'abandoned', admin: { email: 'boss@abandoned.test', password: 'boss-password' } },
  });
  expect(created.status, created.text).toBe(201);
  const sql = postgres(serverUrl((await namesOf(t, 'abandoned')).database), { max: 1, onnotice: () => {} });
  try {
    // Some 40 MB of text that compresses to about half: many blocks more than the archive holds back.
    await sql`
      insert into documents (title, content)
      select 'Doc ' || i, (select string_agg(md5(random()::text || i || j), '') from generate_series(1, 30) j)
      from generate_series(1, 40000) i`;
    const snapshot = await takeSnapshot(t.ctx, (await findCompany(t.ctx, created.body.id))!);
    let taken = 0;
    for await (const chunk of snapshot.archive) {
      taken += (chunk as Buffer).length;
      if (taken > 2 * 1024 * 1024) break;
    }
    await expect.poll(() => sql`select pid from pg_stat_activity where application_name = 'silo-backup'`, { timeout: 10_000 }).toEqual([]);
    const locked = await sql.begin(async (tx) => {
      await tx`set local lock_timeout = '2s'`;
      await tx`lock table documents in access exclusive mode`;
      return true;
    });
    expect(locked).toBe(true);
  } finally {
    await sql.end({ timeout: 1 });
  }
}, 120_000);
