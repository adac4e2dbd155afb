// Backups and restores against real PostgreSQL: a backup of a company with data in every table
// (unicode text, large JSON, tsvector columns, thousands of rows) restores exactly what it took,
// table by table, after the data was changed and deleted; users log in afterwards; the archive
// downloads as stored and holds no secret; a damaged or truncated archive answers 400 with nothing
// changed; a failure at every restore step leaves the company with its data and nothing behind; a
// backup taken while 16 clients write matches one snapshot.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { sharedDatabaseName } from '../src/base/names.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.ts';
import { cliEnvOf } from './support/test-silo.ts';
import { readArchive } from '../src/operations/backups/archive-format.ts';
import { takeBackup } from '../src/operations/backups/backups.ts';
import { startDueBackups } from '../src/operations/backups/schedule.ts';
import { openSilo } from '../src/bootstrap.ts';
import { readdirSync } from 'node:fs';
import { restoreCompany, type RestoreStep } from '../src/operations/backups/restore-in-place.ts';
import { sealedAt } from '../src/base/crypto/credentials.ts';
import { findCompany } from '../src/control-plane/company-records.ts';
import { FolderStorage } from '../src/operations/backups/storage.ts';
import { createTestSilo, namesOf, serverUrl, type TestSilo } from './support/test-silo.ts';

const TABLES = ['users', 'documents', 'chat_sessions', 'chat_messages', 'user_invitations'] as const;
const PASSWORD = 'boss-password';
let t: TestSilo;

async function createTenant(slug: string) {
  const created = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: slug, slug, admin: { email: `boss@${slug}.test`, password: PASSWORD } },
  });
  expect(created.status, created.text).toBe(201);
  return created.body.id as string;
}

async function withTenantDb<T>(slug: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(serverUrl((await namesOf(t, slug)).database), {
    max: 1,
    onnotice: () => {},
    connection: { TimeZone: 'UTC' },
  });
  try {
    return await run(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** Row counts and an md5 over every row's text, sorted, per table: computed apart from Silo's own checks. */
function contents(slug: string) {
  return withTenantDb(slug, async (sql) => {
    const result: Record<string, { rows: number; md5: string | null }> = {};
    for (const table of TABLES) {
      const [row] = await sql<{ rows: number; md5: string | null }[]>`
        select count(*)::int as rows, md5(string_agg(t::text, '|' order by t::text)) as md5 from ${sql(table)} t`;
      result[table] = row!;
    }
    return result;
  });
}

async function seed(slug: string, scale = 1) {
  await withTenantDb(slug, async (sql) => {
    await sql`
      insert into users (email, name, role, password_hash)
      select 'user' || i || '@' || ${slug} || '.test', 'Üser ' || i || ' 日本語 ✓', 'member', u.password_hash
      from generate_series(1, ${200 * scale}) i, (select password_hash from users limit 1) u`;
    await sql`
      insert into documents (title, content, tags, metadata, created_by)
      select 'Document ' || i || ' — naïve café', repeat('lorem ipsum dolor sit amet ' || i || E' tab\\there\\nnewline ', 1 + i % 20),
             array['tag' || (i % 7), 'all'],
             jsonb_build_object('n', i, 'big', (select jsonb_agg(x) from generate_series(1, case when i % 100 = 0 then 5000 else 3 end) x)),
             (select id from users order by email offset (i % 200) limit 1)
      from generate_series(1, ${1500 * scale}) i`;
    await sql`insert into chat_sessions (user_id, title) select id, 'Session of ' || email from users`;
    await sql`
      insert into chat_messages (session_id, role, content)
      select s.id, (array['user', 'assistant', 'system'])[1 + i % 3], 'message ' || i || E' with \\\\ backslash'
      from chat_sessions s, generate_series(1, 5) i`;
    await sql`
      insert into user_invitations (email, role, token_hash, expires_at)
      select 'invited' || i || '@' || ${slug} || '.test', 'member', md5(${slug} || i), now() + interval '7 days'
      from generate_series(1, 50) i`;
  });
}

async function change(slug: string) {
  await withTenantDb(slug, async (sql) => {
    await sql`delete from chat_messages where content like '%1 with%'`;
    await sql`update documents set title = 'changed', metadata = '{}' where content like '%7 %'`;
    await sql`delete from user_invitations`;
    await sql`insert into documents (title, content) values ('after the backup', 'not in it')`;
  });
}

async function login(slug: string) {
  return t.call('POST', '/api/auth/login', { token: null, body: { email: `boss@${slug}.test`, password: PASSWORD, company: slug } });
}

async function restoreDatabases(): Promise<string[]> {
  const rows = await t.admin<{ datname: string }[]>`select datname from pg_database where datname like ${`${t.config.dbPrefix}\\_\\_%`}`;
  // The template and the shared reference database are the installation's own, not a restore's.
  return rows.map((r) => r.datname).filter((n) => !n.endsWith('__template') && n !== sharedDatabaseName(t.config.dbPrefix));
}

async function waitFor<T>(what: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await what();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('timed out');
    await sleep(100);
  }
}

async function backupOverHttp(slug: string) {
  const started = await t.call('POST', `/api/companies/${slug}/backups`, { token: t.adminToken });
  expect(started.status, started.text).toBe(202);
  expect(started.body.status).toBe('running');
  return waitFor(async () => {
    const res = await t.call('GET', `/api/companies/${slug}/backups/${started.body.id}`, { token: t.adminToken });
    return res.body.status === 'running' ? undefined : res.body;
  });
}

beforeAll(async () => {
  t = await createTestSilo();
});

afterAll(async () => {
  await t?.close();
});

describe('backup and restore in place', () => {
  it('restores exactly what the backup took, and its users log in', async () => {
    await createTenant('roundtrip');
    await seed('roundtrip');
    // Documents longer than an archive block (1 MiB), up to several of them in one row.
    await withTenantDb(
      'roundtrip',
      (sql) => sql`
      insert into documents (title, content) select 'Long ' || i, repeat(md5(i::text) || ' ', 40000 * i) from generate_series(1, 4) i`,
    );
    const before = await contents('roundtrip');
    const backup = await backupOverHttp('roundtrip');
    expect(backup.status, JSON.stringify(backup)).toBe('completed');
    expect(backup.sizeBytes).toBeGreaterThan(0);
    expect(backup.schemaVersion).toBe(t.ctx.tenantMigrations.latest);
    for (const table of TABLES) expect(backup.tables[table], table).toBe(before[table]!.rows);

    await change('roundtrip');
    expect(await contents('roundtrip')).not.toEqual(before);

    const restore = await t.call('POST', '/api/companies/roundtrip/restore', { token: t.adminToken, body: { backupId: backup.id } });
    expect(restore.status, restore.text).toBe(202);
    await waitFor(async () => {
      const logs = await t.call('GET', '/api/companies/roundtrip/logs', { token: t.adminToken });
      const done = logs.body.items.find((l: { action: string }) => l.action === 'restored');
      if (done) expect(done.status, JSON.stringify(done)).toBe('ok');
      return done;
    });
    expect(await contents('roundtrip')).toEqual(before);
    expect(await restoreDatabases()).toEqual([]);
    expect((await login('roundtrip')).status).toBe(200);

    const list = await t.call('GET', '/api/companies/roundtrip/backups', { token: t.adminToken });
    expect(list.body.items.map((b: { id: string }) => b.id)).toEqual([backup.id]);
  });

  it('downloads the archive as stored; the manifest names no secret', async () => {
    const id = await createTenant('export-me');
    const backup = await backupOverHttp('export-me');
    const res = await t.app.request(`/api/companies/export-me/backups/${backup.id}/archive`, {
      headers: { authorization: `Bearer ${t.adminToken}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    const bytes = Buffer.from(await res.arrayBuffer());
    const stored = readFileSync(join(t.config.backups.dir, id, `${backup.id}.silo`));
    expect(bytes.equals(stored)).toBe(true);
    const { Readable } = await import('node:stream');
    const manifest = await readArchive(Readable.from([bytes]));
    expect(manifest.company).toEqual({ id, slug: 'export-me', name: 'export-me' });
    const company = (await findCompany(t.ctx, id))!;
    const password = t.ctx.box.open(company.credentialsEncrypted!, sealedAt.companyCredentials(id));
    expect(JSON.stringify(manifest)).not.toContain(password);
    expect(t.logs.join('')).not.toContain(password);

    const other = await t.call('GET', `/api/companies/roundtrip/backups/${backup.id}`, { token: t.adminToken });
    expect(other.status).toBe(404);
    const removed = await t.call('DELETE', `/api/companies/export-me/backups/${backup.id}`, { token: t.adminToken });
    expect(removed.status).toBe(204);
    expect((await t.call('GET', `/api/companies/export-me/backups/${backup.id}/archive`, { token: t.adminToken })).status).toBe(404);
  });

  it('refuses a damaged or truncated archive with 400 and changes nothing', async () => {
    const id = await createTenant('damaged');
    await seed('damaged');
    const backup = await takeBackup(t.ctx, 'damaged', 'test');
    const path = join(t.config.backups.dir, id, `${backup.id}.silo`);
    const intact = readFileSync(path);
    await change('damaged');
    const before = await contents('damaged');
    const flipped = Buffer.from(intact);
    flipped[Math.floor(flipped.length / 2)]! ^= 0xff;
    for (const broken of [flipped, intact.subarray(0, Math.floor(intact.length * 0.7)), Buffer.from('not an archive')]) {
      writeFileSync(path, broken);
      const res = await t.call('POST', '/api/companies/damaged/restore', { token: t.adminToken, body: { backupId: backup.id } });
      expect(res.status, res.text).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(await contents('damaged')).toEqual(before);
      expect(await restoreDatabases()).toEqual([]);
    }
  });

  it('leaves the company with its data, and nothing behind, when a restore fails at any step', async () => {
    await createTenant('failing');
    await seed('failing');
    const backup = await takeBackup(t.ctx, 'failing', 'test');
    await change('failing');
    let before = await contents('failing');
    const steps: RestoreStep[] = ['claim', 'database', 'migrate', 'copy', 'verify', 'migrate_forward', 'hold', 'swap'];
    for (const failAt of steps) {
      await expect(
        restoreCompany(t.ctx, 'failing', backup.id, 'test', {
          beforeStep: (step) => {
            if (step === failAt) throw new Error(`injected at ${step}`);
          },
        }),
        failAt,
      ).rejects.toThrow();
      expect(await contents('failing'), failAt).toEqual(before);
      expect(await restoreDatabases(), failAt).toEqual([]);
      const company = (await findCompany(t.ctx, 'failing'))!;
      expect(company.moveLeaseUntil, failAt).toBeNull();
      expect(company.writesHeldUntil, failAt).toBeNull();
      // A login writes (last_login_at): what the next round compares with follows it.
      expect((await login('failing')).status, failAt).toBe(200);
      before = await contents('failing');
    }
    // And then it works.
    await restoreCompany(t.ctx, 'failing', backup.id, 'test');
    expect(await contents('failing')).not.toEqual(before);
  });
});

describe('backups while clients write', () => {
  it('each backup matches one snapshot: every row acknowledged before it started is in it', async () => {
    const slugs = ['busy-a', 'busy-b', 'busy-c'];
    const tokens: string[] = [];
    for (const slug of slugs) {
      await createTenant(slug);
      tokens.push((await login(slug)).body.token);
    }
    const acknowledged = new Map<string, number>(slugs.map((s) => [s, 0]));
    let writing = true;
    const writers = Array.from({ length: 16 }, async (_, i) => {
      const slug = slugs[i % slugs.length]!;
      while (writing) {
        const res = await t.call('POST', '/api/documents', { token: tokens[i % slugs.length]!, body: { title: `w${i}`, content: 'x' } });
        expect([201, 503]).toContain(res.status);
        if (res.status === 201) acknowledged.set(slug, acknowledged.get(slug)! + 1);
      }
    });
    await sleep(300);
    const results = await Promise.all(
      slugs.map(async (slug) => {
        const floor = acknowledged.get(slug)!;
        const backup = await takeBackup(t.ctx, slug, 'test');
        return { slug, floor, ceiling: acknowledged.get(slug)!, backup };
      }),
    );
    writing = false;
    await Promise.all(writers);
    for (const { slug, floor, ceiling, backup } of results) {
      const rows = backup.tables!.documents!;
      expect(rows, slug).toBeGreaterThanOrEqual(floor);
      expect(rows, slug).toBeLessThanOrEqual(ceiling);
      // The archive's rows are the manifest's count: read it back and count the COPY lines.
      const archive = await new FolderStorage(t.config.backups.dir).read(backup.storageKey);
      let lines = 0;
      await readArchive(archive, async (table, data) => {
        for await (const chunk of data) if (table.name === 'documents') lines += chunk.toString().split('\n').length - 1;
      });
      expect(lines, slug).toBe(rows);
    }
  });
});

describe('the CLI', () => {
  async function cli(...argv: string[]) {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await runCli(argv, {
      env: cliEnvOf(t),
      stdout: { write: (c: string) => stdout.push(c) },
      stderr: { write: (c: string) => stderr.push(c) },
    });
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  }

  it('backs up, lists, exports, restores, imports, archives and unarchives a company', async () => {
    await createTenant('by-cli');
    await seed('by-cli');
    const before = await contents('by-cli');
    const backup = await cli('companies', 'backup', 'by-cli', '--json');
    expect(backup.code, backup.stderr).toBe(0);
    const { id } = JSON.parse(backup.stdout);
    const listed = await cli('companies', 'backups', 'by-cli');
    expect(listed.stdout).toContain(id);
    const file = join(t.config.dataDir, 'exported.silo');
    const exported = await cli('companies', 'export', 'by-cli', '--backup', id, '-o', file);
    expect(exported.code, exported.stderr).toBe(0);
    const { Readable } = await import('node:stream');
    expect((await readArchive(Readable.from([readFileSync(file)]))).company.slug).toBe('by-cli');
    await change('by-cli');
    const restored = await cli('companies', 'restore', 'by-cli', '--backup', id);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/writes were held for \d+ ms/);
    expect(await contents('by-cli')).toEqual(before);
    const imported = await cli('companies', 'import', file, '--slug', 'by-cli-copy', '--json');
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ slug: 'by-cli-copy', status: 'active' });
    expect((await cli('companies', 'archive', 'by-cli-copy')).stdout).toContain('is archived');
    expect((await cli('companies', 'unarchive', 'by-cli-copy')).stdout).toContain('is active');
    const unknown = await cli('companies', 'restore', 'by-cli', '--backup', '00000000-0000-0000-0000-000000000000');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('backup not found');
  });
});

describe('archive and unarchive', () => {
  it('drops the database after a verified backup, answers 403 meanwhile, and brings the same data back', async () => {
    await createTenant('sleepy');
    await seed('sleepy');
    const token = (await login('sleepy')).body.token;
    const before = await contents('sleepy');
    const names = await namesOf(t, 'sleepy');

    const archived = await t.call('PATCH', '/api/companies/sleepy', { token: t.adminToken, body: { status: 'archived' } });
    expect(archived.status, archived.text).toBe(200);
    expect(archived.body).toMatchObject({ slug: 'sleepy', status: 'archived', serverId: null, database: null });
    const present = await t.admin<{ n: number }[]>`
      select (select count(*) from pg_database where datname = ${names.database})
           + (select count(*) from pg_roles where rolname = ${names.role}) as n`;
    expect(Number(present[0]!.n)).toBe(0);
    const refused = await t.call('GET', '/api/documents', { token });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'company_suspended', details: { status: 'archived' } });
    // Logging in answers the same, whatever the password (its users are in the archive, not checked).
    for (const password of [PASSWORD, 'not-the-password']) {
      const loginRefused = await t.call('POST', '/api/auth/login', {
        token: null,
        body: { email: 'boss@sleepy.test', password, company: 'sleepy' },
      });
      expect(loginRefused.status, loginRefused.text).toBe(403);
      expect(loginRefused.body.error).toMatchObject({ code: 'company_suspended', details: { status: 'archived' } });
    }
    const backups = await t.call('GET', '/api/companies/sleepy/backups', { token: t.adminToken });
    expect(backups.body.items).toMatchObject([{ origin: 'archive', status: 'completed' }]);
    expect((await t.call('POST', '/api/companies/sleepy/backups', { token: t.adminToken })).status).toBe(409);
    expect((await t.call('PATCH', '/api/companies/sleepy', { token: t.adminToken, body: { status: 'suspended' } })).status).toBe(409);
    // The slug stays taken.
    const again = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'x', slug: 'sleepy', admin: { email: 'a@b.test' } },
    });
    expect(again.status).toBe(409);

    const back = await t.call('PATCH', '/api/companies/sleepy', { token: t.adminToken, body: { status: 'active' } });
    expect(back.status, back.text).toBe(200);
    expect(back.body).toMatchObject({ status: 'active', database: names.database, schemaVersion: t.ctx.tenantMigrations.latest });
    expect(await contents('sleepy')).toEqual(before);
    expect((await t.call('GET', '/api/documents', { token })).status).toBe(200);
    const logs = await t.call('GET', '/api/companies/sleepy/logs?limit=200', { token: t.adminToken });
    const actions = logs.body.items.map((l: { action: string }) => l.action);
    expect(actions).toEqual(expect.arrayContaining(['backup', 'archived', 'unarchived']));
  });
});

describe('scheduled backups', () => {
  it('takes due backups once across two instances and keeps the newest `keep`', async () => {
    const second = await openSilo(t.config, { listen: true });
    try {
      const schedule = { everyHours: 6, keep: 2 };
      const ids: string[] = [];
      for (const slug of ['nightly-a', 'nightly-b']) {
        const created = await t.call('POST', '/api/companies', {
          token: t.adminToken,
          body: { name: slug, slug, admin: { email: `boss@${slug}.test`, password: PASSWORD }, backupSchedule: schedule },
        });
        expect(created.status, created.text).toBe(201);
        expect(created.body.backupSchedule).toEqual(schedule);
        ids.push(created.body.id);
      }
      const rounds = async () => {
        const [first, other] = await Promise.all([startDueBackups(t.ctx), startDueBackups(second.ctx)]);
        const started = [...first, ...other];
        await Promise.all(started.map((s) => s.done));
        return started.filter((s) => ids.includes(s.companyId)).length;
      };
      expect(await rounds()).toBe(2);
      // Not due again until everyHours have passed.
      expect(await rounds()).toBe(0);
      for (let round = 0; round < 3; round++) {
        await t.ctx.sql`update company_backups set started_at = started_at - interval '7 hours' where origin = 'scheduled'`;
        expect(await rounds()).toBe(2);
      }
      for (const [i, id] of ids.entries()) {
        const list = await t.call('GET', `/api/companies/${id}/backups`, { token: t.adminToken });
        expect(list.body.items, `company ${i}`).toHaveLength(2);
        expect(list.body.items.every((b: { origin: string; status: string }) => b.origin === 'scheduled' && b.status === 'completed')).toBe(
          true,
        );
        // Removed backups took their archives with them.
        expect(readdirSync(join(t.config.backups.dir, id)).sort()).toEqual(
          list.body.items.map((b: { id: string }) => `${b.id}.silo`).sort(),
        );
      }
      const off = await t.call('PATCH', '/api/companies/nightly-a', { token: t.adminToken, body: { backupSchedule: null } });
      expect(off.body.backupSchedule).toBeNull();
    } finally {
      await second.close();
    }
  });
});

describe('a backup that cannot be stored', () => {
  it('fails, and lets its snapshot’s connection go at once', async () => {
    const id = await createTenant('unstorable');
    // A file where the company's backup folder would be: the archive's temporary file cannot be opened.
    const folder = join(t.config.backups.dir, id);
    mkdirSync(t.config.backups.dir, { recursive: true });
    writeFileSync(folder, 'in the way');
    try {
      const backup = await backupOverHttp('unstorable');
      expect(backup.status).toBe('failed');
      // The snapshot's transaction would otherwise sit idle, holding back vacuum, until the server's timeout.
      await expect
        .poll(async () => (await t.admin`select 1 from pg_stat_activity where application_name = 'silo-backup'`).length, { timeout: 5000 })
        .toBe(0);
    } finally {
      rmSync(folder, { force: true });
    }
  });
});

describe('deleting a company', () => {
  it('keeps its backups by default and removes them with keepBackups=false', async () => {
    for (const slug of ['gone-keep', 'gone-clean']) {
      const id = await createTenant(slug);
      const backup = await takeBackup(t.ctx, slug, 'test');
      const deleted = await t.call('DELETE', `/api/companies/${slug}${slug === 'gone-clean' ? '?keepBackups=false' : ''}`, {
        token: t.adminToken,
        headers: { 'x-confirm': slug },
      });
      expect(deleted.status, deleted.text).toBe(200);
      const list = await t.call('GET', `/api/companies/${id}/backups`, { token: t.adminToken });
      const archive = join(t.config.backups.dir, backup.storageKey);
      if (slug === 'gone-keep') {
        expect(list.body.items.map((b: { id: string }) => b.id)).toEqual([backup.id]);
        expect(readdirSync(join(t.config.backups.dir, id))).toEqual([`${backup.id}.silo`]);
        // A deleted company's backup still makes a new one.
        const revived = await t.call('POST', '/api/companies', {
          token: t.adminToken,
          body: { name: 'Revived', slug: 'revived', fromBackup: { company: id, backupId: backup.id } },
        });
        expect(revived.status, revived.text).toBe(201);
      } else {
        expect(list.body.items).toEqual([]);
        expect(() => readFileSync(archive)).toThrow();
      }
    }
  });
});
