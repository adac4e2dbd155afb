// The provisioning saga against a real PostgreSQL: what a created company gets, what a failure
// leaves behind (nothing), and that a retry works.
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProvisionStep } from '../src/context.ts';
import { provisionCompany } from '../src/operations/provisioning/provision-company.ts';
import { createTestSilo, namesOf, serverUrl, type TestSilo } from './support/test-silo.ts';
import { sealedAt } from '../src/base/crypto/credentials.ts';

let t: TestSilo;
beforeAll(async () => {
  t = await createTestSilo();
});
afterAll(async () => {
  await t?.close();
});

async function databaseExists(name: string) {
  const rows = await t.admin`select 1 from pg_database where datname = ${name}`;
  return rows.length === 1;
}
async function roleExists(name: string) {
  const rows = await t.admin`select 1 from pg_roles where rolname = ${name}`;
  return rows.length === 1;
}

/** Log in to a database as a role with a password, run one query, and end. */
async function connectAs(database: string, user: string, password: string) {
  const url = new URL(serverUrl(database));
  url.username = user;
  url.password = password;
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    return await sql<{ user: string; tables: number }[]>`
      select current_user as user,
             (select count(*)::int from pg_tables where schemaname = 'public') as tables`;
  } finally {
    await sql.end();
  }
}

function credentialsOf(slug: string) {
  return t.ctx.db.query.companies.findFirst({ where: (c, { eq, and, ne }) => and(eq(c.slug, slug), ne(c.status, 'deleted')) });
}

describe('a created company', () => {
  it('gets its own migrated database that only its own role can reach', async () => {
    const a = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Alpha', slug: 'alpha', admin: { email: 'a@alpha.test', password: 'alpha-password' } },
    });
    const b = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Beta', slug: 'beta', admin: { email: 'b@beta.test' } },
    });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(a.body).toMatchObject({ slug: 'alpha', status: 'active', schemaVersion: t.ctx.tenantMigrations.latest });
    expect(a.body.admin.temporaryPassword).toBeUndefined();
    expect(b.body.admin.temporaryPassword).toEqual(expect.any(String));

    const alpha = await namesOf(t, 'alpha');
    const beta = await namesOf(t, 'beta');
    expect(await databaseExists(alpha.database)).toBe(true);

    const alphaRow = (await credentialsOf('alpha'))!;
    const betaRow = (await credentialsOf('beta'))!;
    const alphaPassword = t.ctx.box.open(alphaRow.credentialsEncrypted!, sealedAt.companyCredentials(alphaRow.id));
    const betaPassword = t.ctx.box.open(betaRow.credentialsEncrypted!, sealedAt.companyCredentials(betaRow.id));

    // Its role reaches it and sees the migrated tables, owned by itself.
    const [seen] = await connectAs(alpha.database, alpha.role, alphaPassword);
    expect(seen).toEqual({ user: alpha.role, tables: 10 });

    // Postgres itself refuses another company's role.
    await expect(connectAs(alpha.database, beta.role, betaPassword)).rejects.toMatchObject({ code: '42501' });
  });

  it('owns every object cloned from the template, and the first admin can log in', async () => {
    const row = (await credentialsOf('alpha'))!;
    const url = new URL(serverUrl(row.databaseName!));
    url.username = row.roleName!;
    url.password = t.ctx.box.open(row.credentialsEncrypted!, sealedAt.companyCredentials(row.id));
    const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
    try {
      const owners = await sql<{ owner: string }[]>`
        select distinct pg_get_userbyid(c.relowner) as owner from pg_class c
        join pg_namespace n on n.oid = c.relnamespace where n.nspname in ('public', 'drizzle')`;
      expect(owners).toEqual([{ owner: row.roleName }]);
    } finally {
      await sql.end();
    }
    const login = await t.call('POST', '/api/auth/login', {
      token: null,
      body: { email: 'a@alpha.test', password: 'alpha-password', company: 'alpha' },
    });
    expect(login.status).toBe(200);
    expect(login.body.company).toMatchObject({ slug: 'alpha' });
    expect(login.body.user).toMatchObject({ email: 'a@alpha.test', role: 'company_admin' });
  });

  it('is audited step by step', async () => {
    const logs = await t.call('GET', '/api/companies/alpha/logs', { token: t.adminToken });
    expect(logs.status).toBe(200);
    const actions = logs.body.items.map((l: { action: string }) => l.action);
    expect(actions).toEqual(
      expect.arrayContaining(['created', 'provision.role', 'provision.database', 'provision.revoke', 'provision.first_admin']),
    );
    expect(logs.body.items.every((l: { status: string }) => l.status === 'ok')).toBe(true);
  });
});

describe('deleting a company', () => {
  it('needs the slug in X-Confirm, then drops the database and role and keeps the row', async () => {
    await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Gamma', slug: 'gamma', admin: { email: 'g@gamma.test' } },
    });
    const names = await namesOf(t, 'gamma');
    expect((await t.call('DELETE', '/api/companies/gamma', { token: t.adminToken })).status).toBe(409);
    expect((await t.call('DELETE', '/api/companies/gamma', { token: t.adminToken, headers: { 'x-confirm': 'alpha' } })).status).toBe(409);
    expect(await databaseExists(names.database)).toBe(true);

    const deleted = await t.call('DELETE', '/api/companies/gamma', { token: t.adminToken, headers: { 'x-confirm': 'gamma' } });
    expect(deleted.status).toBe(200);
    expect(deleted.body.status).toBe('deleted');
    expect(await databaseExists(names.database)).toBe(false);
    expect(await roleExists(names.role)).toBe(false);
    const row = await t.call('GET', `/api/companies/${deleted.body.id}`, { token: t.adminToken });
    expect(row.body).toMatchObject({ status: 'deleted', slug: 'gamma' });
    expect(row.body.deletedAt).toEqual(expect.any(String));

    // The slug is free again.
    const again = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Gamma 2', slug: 'gamma', admin: { email: 'g@gamma.test' } },
    });
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(deleted.body.id);
  });
});

describe('a failure part-way through the saga', () => {
  const steps: ProvisionStep[] = ['role', 'database', 'revoke', 'ownership', 'first_admin', 'activate'];

  it.each(steps)('at step "%s" leaves no database and no role, and the company failed', async (failAt) => {
    const slug = `fail-${failAt.replace('_', '-')}`;
    t.ctx.beforeProvisionStep = (step) => {
      if (step === failAt) throw new Error(`injected failure at ${step}`);
    };
    try {
      const res = await t.call('POST', '/api/companies', {
        token: t.adminToken,
        body: { name: slug, slug, admin: { email: 'x@fail.test' } },
      });
      expect(res.status).toBe(500);
      expect(res.body.error.code).toBe('internal');
    } finally {
      t.ctx.beforeProvisionStep = undefined;
    }
    const names = await namesOf(t, slug);
    expect(await databaseExists(names.database)).toBe(false);
    expect(await roleExists(names.role)).toBe(false);
    const company = await t.call('GET', `/api/companies/${slug}`, { token: t.adminToken });
    expect(company.body.status).toBe('failed');
    expect(company.body.lastError).toContain(`injected failure at ${failAt}`);

    // Creating it again retries on the same row and succeeds.
    const retry = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: slug, slug, admin: { email: 'x@fail.test' } },
    });
    expect(retry.status).toBe(201);
    expect(retry.body.id).toBe(company.body.id);
    expect(retry.body.status).toBe('active');
    expect(await databaseExists(names.database)).toBe(true);
  });

  it('undoes only what it created when Postgres itself refuses a step', async () => {
    // Someone else's database already holds the name: CREATE DATABASE fails after the role exists.
    // The name comes from the company's id, known once its row is in: squat it at the first step.
    let squatted: { database: string; role: string } | undefined;
    t.ctx.beforeProvisionStep = async (step) => {
      if (step !== 'role') return;
      squatted = await namesOf(t, 'squatted');
      await t.admin`create database ${t.admin(squatted.database)}`;
    };
    const res = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Squatted', slug: 'squatted', admin: { email: 's@s.test' } },
    });
    t.ctx.beforeProvisionStep = undefined;
    const names = squatted!;
    expect(res.status).toBe(500);
    expect(await roleExists(names.role)).toBe(false);
    expect(await databaseExists(names.database)).toBe(true); // not ours: left alone
    const company = await t.call('GET', '/api/companies/squatted', { token: t.adminToken });
    expect(company.body.status).toBe('failed');
    expect(company.body.lastError).toMatch(/already exists/);

    await t.admin`drop database ${t.admin(names.database)}`;
    const retry = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Squatted', slug: 'squatted', admin: { email: 's@s.test' } },
    });
    expect(retry.status).toBe(201);
  });
});

describe('the activation', () => {
  it('makes the company active only together with its audit rows, and is undone with the rest', async () => {
    // The activation is one statement (the update and the audit insert): a refused audit row must
    // leave the company inactive, and the saga then undoes everything as for any other step.
    const refuse = async (id: string) => {
      await t.ctx.sql.unsafe(`
        create or replace function test_refuse_created() returns trigger language plpgsql as $$
        begin
          if new.company_id = '${id}' and new.action = 'created' and new.status = 'ok' then
            raise exception 'audit row refused by the test';
          end if;
          return new;
        end $$;
        create trigger test_refuse_created before insert on company_database_logs
          for each row execute function test_refuse_created();
        -- Every status the company's row takes, kept only if the statement that set it commits.
        create table test_status_seen (company_id uuid, status text);
        create or replace function test_see_status() returns trigger language plpgsql as $$
        begin
          if new.id = '${id}' then insert into test_status_seen values (new.id, new.status); end if;
          return new;
        end $$;
        create trigger test_see_status after update on companies for each row execute function test_see_status()`);
    };
    t.ctx.beforeProvisionStep = async (step) => {
      if (step !== 'activate') return;
      const [row] = await t.ctx.sql<{ id: string }[]>`select id from companies where slug = 'unaudited'`;
      await refuse(row!.id);
    };
    let res: Awaited<ReturnType<typeof t.call>>;
    let seen: string[];
    try {
      res = await t.call('POST', '/api/companies', {
        token: t.adminToken,
        body: { name: 'Unaudited', slug: 'unaudited', admin: { email: 'u@u.test', password: 'unaudited-password' } },
      });
      seen = (await t.ctx.sql<{ status: string }[]>`select status from test_status_seen`).map((r) => r.status);
    } finally {
      t.ctx.beforeProvisionStep = undefined;
      await t.ctx.sql.unsafe(`
        drop trigger if exists test_refuse_created on company_database_logs; drop function if exists test_refuse_created();
        drop trigger if exists test_see_status on companies; drop function if exists test_see_status();
        drop table if exists test_status_seen`);
    }
    // Never active, not even for a moment: the update that made it so was undone with the audit row.
    expect(seen).toContain('failed');
    expect(seen).not.toContain('active');
    expect(res.status).toBe(500);
    expect(res.body.error.details).toMatchObject({ step: 'activate' });
    const company = await t.call('GET', '/api/companies/unaudited', { token: t.adminToken });
    expect(company.body.status).toBe('failed');
    expect(company.body.lastError).toMatch(/^activate: .*audit row refused by the test/);
    const names = await namesOf(t, 'unaudited');
    expect(await databaseExists(names.database)).toBe(false);
    expect(await roleExists(names.role)).toBe(false);
    const logs = await t.call('GET', '/api/companies/unaudited/logs', { token: t.adminToken });
    const created = logs.body.items.filter((l: { action: string }) => l.action === 'created');
    expect(created).toEqual([expect.objectContaining({ status: 'failed' })]);

    const retry = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Unaudited', slug: 'unaudited', admin: { email: 'u@u.test', password: 'unaudited-password' } },
    });
    expect(retry.status).toBe(201);
    expect(retry.body.status).toBe('active');
  });
});

describe('provisioning without a current template', () => {
  it('creates an empty database and applies every migration instead', async () => {
    const { company } = await provisionCompany(
      t.ctx,
      { name: 'Delta', slug: 'delta', admin: { email: 'd@delta.test', password: 'delta-password' } },
      'test',
      { via: 'migrations' },
    );
    expect(company.status).toBe('active');
    expect(company.schemaVersion).toBe(t.ctx.tenantMigrations.latest);
    const test = await t.call('GET', '/api/companies/delta/database/test', { token: t.adminToken });
    expect(test.body).toMatchObject({ ok: true, pendingMigrations: 0, schemaVersion: t.ctx.tenantMigrations.latest });
  });
});
