// Bring your own database: a company registered with the connection string of a database someone
// else created is checked, migrated and served like any other; Silo never creates or drops it
// unless told to, and never shows the connection string.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { companies } from '../src/control-plane/schema.ts';
import { migrateFleet } from '../src/operations/migrations/fleet.ts';
import { drainServer } from '../src/operations/scale-out/drain-server.ts';
import { digestOf, fileBytes, streamOf } from './support/file-bytes.ts';
import { copyTenantMigrations, type MigrationFolder } from './support/migration-folder.ts';
import { createTestSilo, randomName, serverUrl, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
let migrations: MigrationFolder;
const PASSWORD = 'owner-password-1';
const made: { database: string; role: string }[] = [];

/** A database and its owner, made the way a customer's DBA would, outside Silo. */
async function someoneElsesDatabase(options: { withOwnTable?: boolean; withDrizzle?: boolean } = {}) {
  const name = `byo_${randomName()}`;
  const role = `${name}_owner`;
  const rolePassword = `pw-${randomName(16)}`;
  await t.admin.unsafe(`create role ${role} login password '${rolePassword}'`);
  await t.admin.unsafe(`create database ${name} owner ${role}`);
  await t.admin.unsafe(`revoke all on database ${name} from public`);
  made.push({ database: name, role });
  const url = new URL(serverUrl(name));
  url.username = role;
  url.password = rolePassword;
  if (options.withOwnTable) {
    const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
    await sql`create table invoices (id int primary key)`;
    // Another application's own drizzle migrations: not Silo's.
    if (options.withDrizzle)
      await sql.unsafe(
        'create schema drizzle; create table drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint)',
      );
    await sql.end();
  }
  return { name, role, rolePassword, url: url.toString() };
}

async function databaseExists(name: string): Promise<boolean> {
  const [row] = await t.admin<{ n: number }[]>`select count(*)::int as n from pg_database where datname = ${name}`;
  return row!.n === 1;
}

async function register(slug: string, url: string, email = `boss@${slug}.test`) {
  return t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: `Company ${slug}`, slug, admin: { email, password: PASSWORD }, externalDatabaseUrl: url },
  });
}

async function logIn(slug: string, email = `boss@${slug}.test`): Promise<string> {
  const res = await t.call('POST', '/api/auth/login', { token: null, body: { email, password: PASSWORD, company: slug } });
  expect(res.status).toBe(200);
  return res.body.token;
}

beforeAll(async () => {
  migrations = copyTenantMigrations();
  t = await createTestSilo({ tenantMigrationsFolder: migrations.path });
});

afterAll(async () => {
  await t?.close();
  const admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
  for (const { database, role } of made) {
    await admin.unsafe(`drop database if exists ${database} with (force)`);
    await admin.unsafe(`drop role if exists ${role}`);
  }
  await admin.end();
  migrations?.remove();
});

describe('external databases (bring your own)', () => {
  it('migrates and serves a database someone else created, and never shows its connection string', async () => {
    const db = await someoneElsesDatabase();
    const res = await register('byo-one', db.url);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      slug: 'byo-one',
      status: 'active',
      provider: 'external',
      database: db.name,
      schemaVersion: t.ctx.tenantMigrations.latest,
    });

    // Served like any other company: its admin logs in, writes and reads, in that very database.
    const token = await logIn('byo-one');
    const created = await t.call('POST', '/api/documents', { token, body: { title: 'Brought along', content: 'my own database' } });
    expect(created.status).toBe(201);
    const direct = postgres(db.url, { max: 1, onnotice: () => {} });
    const [doc] = await direct<{ title: string }[]>`select title from documents`;
    await direct.end();
    expect(doc!.title).toBe('Brought along');

    const health = await t.call('GET', '/api/health/tenant', { token });
    expect(health.body).toMatchObject({ database: db.name, connected: true });
    const tested = await t.call('GET', '/api/companies/byo-one/database/test', { token: t.adminToken });
    expect(tested.body).toMatchObject({ ok: true, pendingMigrations: 0 });

    // Registered under the external server, which automatic placement never chooses.
    const servers = await t.call('GET', '/api/servers', { token: t.adminToken });
    const external = servers.body.items.find((s: { provider: string }) => s.provider === 'external');
    expect(external).toMatchObject({ companies: 1, reachable: true });
    expect(res.body.serverId).toBe(external.id);
    const placed = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Placed', slug: 'placed-one', admin: { email: 'a@placed.test', password: PASSWORD } },
    });
    expect(placed.status).toBe(201);
    expect(placed.body.provider).toBe('postgres');
    expect(placed.body.serverId).not.toBe(external.id);

    // The connection string (its password above all) is stored encrypted and shown nowhere.
    const [row] = await t.ctx.db.select({ sealed: companies.databaseUrlEncrypted }).from(companies).where(eq(companies.slug, 'byo-one'));
    expect(row!.sealed).toBeTruthy();
    expect(row!.sealed).not.toContain(db.rolePassword);
    expect(row!.sealed).not.toContain(db.role);
    for (const text of [
      res.text,
      servers.text,
      tested.text,
      (await t.call('GET', '/api/companies/byo-one', { token: t.adminToken })).text,
      ...t.logs,
    ]) {
      expect(text).not.toContain(db.rolePassword);
    }
  });

  it('is upgraded by fleet runs like the other companies', async () => {
    const db = await someoneElsesDatabase();
    expect((await register('byo-fleet', db.url)).status).toBe(201);
    t.ctx.tenantMigrations = migrations.add('0001_byo_note', 'alter table documents add column byo_note text;');
    const run = await migrateFleet(t.ctx, { concurrency: 2, actor: 'test', only: ['byo-fleet'] });
    expect(run.results.map((r) => [r.slug, r.status, r.version])).toEqual([['byo-fleet', 'migrated', '0001_byo_note']]);
    const direct = postgres(db.url, { max: 1, onnotice: () => {} });
    const columns = await direct`select 1 from information_schema.columns where table_name = 'documents' and column_name = 'byo_note'`;
    await direct.end();
    expect(columns).toHaveLength(1);
  });

  it('is never the database of two live companies at once, however it is reached', async () => {
    const db = await someoneElsesDatabase();
    expect((await register('byo-first', db.url)).status).toBe(201);
    // The same database by another host name.
    const other = new URL(db.url);
    other.hostname = other.hostname === 'localhost' ? '127.0.0.1' : 'localhost';
    const second = await register('byo-second', other.toString());
    expect(second.status).toBe(409);
    expect(second.body.error.message).toBe('that database is already the database of company "byo-first"');
    const token = await logIn('byo-first');
    expect((await t.call('GET', '/api/users', { token })).body.items.map((u: { email: string }) => u.email)).toEqual([
      'boss@byo-first.test',
    ]);
  });

  it.each<[string, { withOwnTable?: boolean; withDrizzle?: boolean }]>([
    ['tables of its own', { withOwnTable: true }],
    ["tables and another application's drizzle migrations", { withOwnTable: true, withDrizzle: true }],
  ])('refuses a database with %s, and leaves it as it was', async (_, options) => {
    const db = await someoneElsesDatabase(options);
    const res = await register(`byo-foreign-${options.withDrizzle ? 'd' : 't'}`, db.url);
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/tables of its own/);
    expect(res.text).not.toContain(db.rolePassword);
    const direct = postgres(db.url, { max: 1, onnotice: () => {} });
    const tables = await direct<{ name: string }[]>`select tablename as name from pg_tables where schemaname in ('public', 'silo')`;
    await direct.end();
    expect(tables.map((r) => r.name)).toEqual(['invoices']);
  });

  it('answers a clear error for a wrong password, an unreachable server and a malformed URL, without echoing them', async () => {
    const db = await someoneElsesDatabase();
    const wrong = new URL(db.url);
    wrong.password = 'not-the-password';
    const refused = await register('byo-refused', wrong.toString());
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toBe('the database refused the login in externalDatabaseUrl');
    expect(refused.text).not.toContain('not-the-password');

    const closed = new URL(db.url);
    closed.port = '1';
    const unreachable = await register('byo-unreachable', closed.toString());
    expect(unreachable.status).toBe(503);
    expect(unreachable.text).not.toContain(db.rolePassword);

    const malformed = await register('byo-malformed', 'mysql://user:secret-in-url@host/db');
    expect(malformed.status).toBe(400);
    expect(malformed.text).not.toContain('secret-in-url');
    // Shaped like a URL, but not one a driver can open: refused before anything is recorded.
    for (const url of ['postgres://u:secret-in-url@localhost:99999/db', 'postgres://u:secret-%zz@localhost/db']) {
      const res = await register('byo-unparsable', url);
      expect(res.status).toBe(400);
      expect(res.text).not.toContain('secret-');
    }
    expect((await t.call('GET', '/api/companies/byo-unparsable', { token: t.adminToken })).status).toBe(404);

    // A postgres server's id with externalDatabaseUrl, and an external server without one.
    const servers = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items as { id: string; provider: string }[];
    const postgresServer = servers.find((s) => s.provider === 'postgres')!;
    const mismatch = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: {
        name: 'Mismatch',
        slug: 'byo-mismatch',
        admin: { email: 'a@m.test' },
        serverId: postgresServer.id,
        externalDatabaseUrl: db.url,
      },
    });
    expect(mismatch.status).toBe(400);
    for (const text of [refused.text, unreachable.text, malformed.text, mismatch.text, ...t.logs]) {
      expect(text).not.toContain(db.rolePassword);
      expect(text).not.toContain('not-the-password');
    }
  });

  it('survives the company being deleted (detached) with its files, can be attached again with them, and is dropped only when asked', async () => {
    const db = await someoneElsesDatabase();
    expect((await register('byo-keep', db.url)).status).toBe(201);
    const token = await logIn('byo-keep');
    const document = await t.call('POST', '/api/documents', { token, body: { title: 'Kept', content: 'still here' } });
    expect(document.status).toBe(201);
    const { chunks, sha256 } = fileBytes(300_000);
    const uploaded = await t.app.request(`/api/documents/${document.body.id}/files?name=deed.pdf`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/pdf' },
      body: streamOf(chunks()),
      duplex: 'half',
    } as RequestInit);
    expect(uploaded.status).toBe(201);
    const fileId = (await uploaded.json()).id as string;
    /** The kept file, as the company logged in with `as` downloads it. */
    const keptFile = async (as: string) => {
      const res = await t.app.request(`/api/documents/${document.body.id}/files/${fileId}`, { headers: { authorization: `Bearer ${as}` } });
      return { status: res.status, sha256: res.status === 200 ? (await digestOf(res.body)).sha256 : null };
    };

    // Someone else's database is not Silo's to move, nor its server's to drain.
    const servers = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items as { id: string; provider: string }[];
    const move = await t.call('POST', '/api/companies/byo-keep/move', {
      token: t.adminToken,
      body: { serverId: servers.find((s) => s.provider === 'postgres')!.id },
    });
    expect(move.status).toBe(409);
    await expect(drainServer(t.ctx, servers.find((s) => s.provider === 'external')!.id, { concurrency: 1, actor: 'test' })).rejects.toThrow(
      /not moved by Silo/,
    );

    const deleted = await t.call('DELETE', '/api/companies/byo-keep', { token: t.adminToken, headers: { 'x-confirm': 'byo-keep' } });
    expect(deleted.status).toBe(200);
    expect(deleted.body.status).toBe('deleted');
    expect(await databaseExists(db.name)).toBe(true);
    const logs = await t.call('GET', '/api/companies/byo-keep/logs', { token: t.adminToken });
    expect(logs.body.items[0]).toMatchObject({ action: 'deleted', status: 'ok', details: { database: 'detached', files: 'kept' } });
    expect(existsSync(join(t.config.files.dir, deleted.body.id))).toBe(true);

    // Attached again under a new slug: its data is there, and a second admin joins the first.
    const again = await register('byo-again', db.url, 'second@byo-again.test');
    expect(again.status).toBe(201);
    const secondToken = await logIn('byo-again', 'second@byo-again.test');
    const docs = await t.call('GET', '/api/documents', { token: secondToken });
    expect(docs.body.items.map((d: { title: string }) => d.title)).toEqual(['Kept']);
    // Its files too: put under the new company's id, and the old company's folder gone.
    expect(await keptFile(secondToken)).toEqual({ status: 200, sha256 });
    expect(existsSync(join(t.config.files.dir, again.body.id, fileId))).toBe(true);
    expect(existsSync(join(t.config.files.dir, deleted.body.id))).toBe(false);
    // The admin's email already being there is a conflict, not a crash.
    await t.call('DELETE', '/api/companies/byo-again', { token: t.adminToken, headers: { 'x-confirm': 'byo-again' } });
    const clash = await register('byo-clash', db.url, 'second@byo-again.test');
    expect(clash.status).toBe(409);

    const third = await register('byo-drop', db.url, 'third@byo-drop.test');
    expect(third.status).toBe(201);
    // The attach that failed in between lost nothing: the files follow to the next company.
    expect(await keptFile(await logIn('byo-drop', 'third@byo-drop.test'))).toEqual({ status: 200, sha256 });
    const dropped = await t.call('DELETE', '/api/companies/byo-drop?dropDatabase=true', {
      token: t.adminToken,
      headers: { 'x-confirm': 'byo-drop' },
    });
    expect(dropped.status).toBe(200);
    expect(await databaseExists(db.name)).toBe(false);
    expect(existsSync(join(t.config.files.dir, dropped.body.id))).toBe(false);
  });
});
