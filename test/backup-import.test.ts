// New companies from backups, against real PostgreSQL: from another company's backup, and from an
// exported archive imported into a PostgreSQL 15 server (Debian's binaries) and back into the
// embedded 18; the data is equal table by table and users log in with their passwords. An archive
// at an older schema version is migrated forward; one from a newer Silo answers 409; a damaged one
// answers 400 and creates nothing.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/base/embedded/embedded-postgres.ts';
import { takeBackup } from '../src/operations/backups/backups.ts';
import { companyDatabaseUrl } from '../src/data-plane/company-database.ts';
import { findCompany } from '../src/control-plane/company-records.ts';
import { copyTenantMigrations, type MigrationFolder } from './support/migration-folder.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

const TABLES = ['users', 'documents', 'chat_sessions', 'chat_messages', 'user_invitations'] as const;
const PASSWORD = 'boss-password';
const PG15 = '/usr/lib/postgresql/15/bin';

let t: TestSilo;
let newer: TestSilo;
let folder: MigrationFolder;
let pg15: EmbeddedServer | undefined;
let pg15Dir: string;
let pg15ServerId: string;
let defaultServerId: string;

async function createTenant(on: TestSilo, slug: string) {
  const created = await on.call('POST', '/api/companies', {
    token: on.adminToken,
    body: { name: slug, slug, admin: { email: `boss@${slug}.test`, password: PASSWORD } },
  });
  expect(created.status, created.text).toBe(201);
}

/** A client on the company's database as its own role, wherever it lives. */
async function withCompanyDb<T>(on: TestSilo, slug: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const company = (await findCompany(on.ctx, slug))!;
  const sql = postgres(await companyDatabaseUrl(on.ctx, company), { max: 1, onnotice: () => {}, connection: { TimeZone: 'UTC' } });
  try {
    return await run(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** Per table: rows and an md5 over every row's text (the columns every version has), sorted. */
function contents(on: TestSilo, slug: string) {
  return withCompanyDb(on, slug, async (sql) => {
    const result: Record<string, { rows: number; md5: string | null }> = {};
    for (const table of TABLES) {
      const columns = table === 'documents' ? sql`id, title, content, tags, metadata, search, created_by, created_at` : sql`t.*`;
      const [row] = await sql<{ rows: number; md5: string | null }[]>`
        select count(*)::int as rows, md5(string_agg(r::text, '|' order by r::text))
        from (select ${columns} from ${sql(table)} t) r`;
      result[table] = row!;
    }
    return result;
  });
}

async function seed(on: TestSilo, slug: string) {
  await withCompanyDb(on, slug, async (sql) => {
    await sql`
      insert into users (email, name, role, password_hash)
      select 'user' || i || '@' || ${slug} || '.test', 'Ünïcode ' || i || ' 日本', 'member', u.password_hash
      from generate_series(1, 100) i, (select password_hash from users limit 1) u`;
    await sql`
      insert into documents (title, content, tags, metadata)
      select 'Doc ' || i, repeat(E'text\\twith tab ' || i, 1 + i % 9), array['t' || i % 3],
             jsonb_build_object('n', i, 'nested', jsonb_build_object('list', (select jsonb_agg(x) from generate_series(1, 50) x)))
      from generate_series(1, 800) i`;
    await sql`insert into chat_sessions (user_id, title) select id, 'Session ' || email from users`;
    await sql`insert into chat_messages (session_id, role, content) select id, 'user', 'hello ' || title from chat_sessions`;
  });
}

/** The first admin of `origin` (whose users a copy holds) logs in to `slug`. */
async function login(on: TestSilo, slug: string, origin = slug) {
  return on.call('POST', '/api/auth/login', { token: null, body: { email: `boss@${origin}.test`, password: PASSWORD, company: slug } });
}

async function upload(on: TestSilo, query: string, archive: Buffer) {
  const res = await on.app.request(`/api/companies/import?${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${on.adminToken}`, 'content-type': 'application/octet-stream' },
    body: new Uint8Array(archive),
  });
  const text = await res.text();
  return { status: res.status, text, body: text ? JSON.parse(text) : undefined };
}

async function exported(on: TestSilo, slug: string): Promise<Buffer> {
  const backup = await takeBackup(on.ctx, slug, 'test');
  return readFileSync(join(on.config.backups.dir, backup.storageKey));
}

beforeAll(async () => {
  t = await createTestSilo();
  folder = copyTenantMigrations();
  folder.add('0099_priority', 'ALTER TABLE "documents" ADD COLUMN "priority" integer DEFAULT 3 NOT NULL;');
  newer = await createTestSilo({ tenantMigrationsFolder: folder.path, env: { SILO_IMPORT_MAX_BYTES: '1000000' } });
  defaultServerId = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items[0].id;
  if (existsSync(join(PG15, 'postgres'))) {
    pg15Dir = mkdtempSync(join(tmpdir(), 'silo-pg15-'));
    pg15 = await startEmbeddedPostgres(pg15Dir, { binaries: { initdb: join(PG15, 'initdb'), postgres: join(PG15, 'postgres') } });
    const added = await t.call('POST', '/api/servers', { token: t.adminToken, body: { name: 'pg15', url: pg15.url } });
    expect(added.status, added.text).toBe(201);
    pg15ServerId = added.body.id;
  }
}, 120_000);

afterAll(async () => {
  await t?.close();
  await newer?.close();
  folder?.remove();
  await pg15?.stop();
  if (pg15Dir) rmSync(pg15Dir, { recursive: true, force: true });
});

describe('a new company from a backup', () => {
  it('holds the backup of another company, whose users log in with their passwords', async () => {
    await createTenant(t, 'original');
    await seed(t, 'original');
    const backup = await takeBackup(t.ctx, 'original', 'test');
    const created = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: {
        name: 'The copy',
        slug: 'the-copy',
        fromBackup: { company: 'original', backupId: backup.id },
        // Its own settings: an archive carries data, not these.
        maxUsers: 500,
        features: { reports: true },
        backupSchedule: { everyHours: 12, keep: 3 },
      },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({
      slug: 'the-copy',
      name: 'The copy',
      status: 'active',
      schemaVersion: t.ctx.tenantMigrations.latest,
      maxUsers: 500,
      features: { reports: true },
      backupSchedule: { everyHours: 12, keep: 3 },
    });
    expect(created.body.admin).toBeUndefined();
    expect(await contents(t, 'the-copy')).toEqual(await contents(t, 'original'));
    expect((await login(t, 'the-copy', 'original')).status).toBe(200);
    const original = (await findCompany(t.ctx, 'original'))!;
    const copy = (await findCompany(t.ctx, 'the-copy'))!;
    expect(copy.roleName).not.toBe(original.roleName);

    const both = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'x', slug: 'x-both', admin: { email: 'a@b.test' }, fromBackup: { company: 'original', backupId: backup.id } },
    });
    expect(both.status).toBe(400);
    const external = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: {
        name: 'x',
        slug: 'x-external',
        externalDatabaseUrl: 'postgres://someone:secret@db.example:5432/theirs',
        fromBackup: { company: 'original', backupId: backup.id },
      },
    });
    expect(external.status, external.text).toBe(400);
    expect(external.body.error.details).toEqual([expect.objectContaining({ path: 'externalDatabaseUrl' })]);
    expect(await findCompany(t.ctx, 'x-external')).toBeUndefined();
    const taken = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'x', slug: 'the-copy', fromBackup: { company: 'original', backupId: backup.id } },
    });
    expect(taken.status).toBe(409);
  });

  it('imports an exported archive onto PostgreSQL 15 and back onto 18', async () => {
    expect(pg15, `PostgreSQL 15 binaries in ${PG15}`).toBeDefined();
    await createTenant(t, 'on-eighteen');
    await seed(t, 'on-eighteen');
    const expected = await contents(t, 'on-eighteen');
    const imported = await upload(t, `slug=on-fifteen&serverId=${pg15ServerId}`, await exported(t, 'on-eighteen'));
    expect(imported.status, imported.text).toBe(201);
    expect(imported.body.serverId).toBe(pg15ServerId);
    const version = await withCompanyDb(t, 'on-fifteen', async (sql) => (await sql`show server_version`)[0]!.server_version as string);
    expect(version).toMatch(/^15\./);
    expect(await contents(t, 'on-fifteen')).toEqual(expected);
    expect((await login(t, 'on-fifteen', 'on-eighteen')).status).toBe(200);

    // The login wrote (last_login_at): what comes back is the company as it is now.
    const now = await contents(t, 'on-fifteen');
    const back = await upload(t, `slug=back-on-eighteen&serverId=${defaultServerId}`, await exported(t, 'on-fifteen'));
    expect(back.status, back.text).toBe(201);
    expect(await contents(t, 'back-on-eighteen')).toEqual(now);
    expect((await login(t, 'back-on-eighteen', 'on-eighteen')).status).toBe(200);
    const backups = await t.call('GET', '/api/companies/back-on-eighteen/backups', { token: t.adminToken });
    expect(backups.body.items).toMatchObject([{ origin: 'import', status: 'completed' }]);
  });

  it('refuses a damaged archive with 400 and creates nothing', async () => {
    await createTenant(t, 'to-damage');
    const archive = await exported(t, 'to-damage');
    for (const broken of [archive.subarray(0, archive.length - 40), Buffer.from('junk'), Buffer.alloc(0)]) {
      const res = await upload(t, 'slug=never-made', broken);
      expect(res.status, res.text).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(await findCompany(t.ctx, 'never-made')).toBeUndefined();
    }
    const databases = await t.admin<{ n: number }[]>`select count(*)::int as n from pg_database where datname like ${'%never_made%'}`;
    expect(databases[0]!.n).toBe(0);
  });
});

describe('schema versions', () => {
  it('migrates an archive from an older schema version forward', async () => {
    await createTenant(t, 'older');
    await seed(t, 'older');
    const res = await upload(newer, 'slug=older-moved-up', await exported(t, 'older'));
    expect(res.status, res.text).toBe(201);
    expect(res.body.schemaVersion).toBe('0099_priority');
    expect(await contents(newer, 'older-moved-up')).toEqual(await contents(t, 'older'));
    const priorities = await withCompanyDb(newer, 'older-moved-up', (sql) => sql`select distinct priority from documents`);
    expect(priorities).toEqual([{ priority: 3 }]);
    expect((await login(newer, 'older-moved-up', 'older')).status).toBe(200);
  });

  it('refuses an archive from a newer Silo with 409', async () => {
    await createTenant(newer, 'from-newer');
    const res = await upload(t, 'slug=too-new', await exported(newer, 'from-newer'));
    expect(res.status, res.text).toBe(409);
    expect(res.body.error.message).toContain('0099_priority');
    expect(await findCompany(t.ctx, 'too-new')).toBeUndefined();
  });
});

describe('the import limit', () => {
  it('answers 413 to an archive over SILO_IMPORT_MAX_BYTES and keeps nothing of it', async () => {
    const files = () => readdirSync(newer.config.backups.dir, { recursive: true }).map(String).sort();
    const before = files();
    const res = await upload(newer, 'slug=too-big', Buffer.alloc(2_000_000, 7));
    expect(res.status, res.text).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
    expect(await findCompany(newer.ctx, 'too-big')).toBeUndefined();
    // Its folder may stay (empty); no archive or temporary file does.
    expect(files().filter((f) => f.endsWith('.silo') || f.endsWith('.tmp'))).toEqual(before.filter((f) => f.endsWith('.silo')));
  });
});
