// The catalogs every role can read (pg_database, pg_roles, pg_stat_activity, ...) must not give a
// company the fleet's customer list: database and role names are opaque. A company's own role reads
// every catalog relation it may read, row by row, and finds no other company's slug or id. Companies
// made with slug-based names are renamed by `silo reconcile --fix`, and keep working.
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacyTenantNames, quoteIdent, tenantNames } from '../src/base/names.ts';
import { companies } from '../src/control-plane/schema.ts';
import { rowsOf } from '../src/data-plane/tenant-db.ts';
import { reconcile } from '../src/operations/reconcile/reconcile.ts';
import { renameStopover } from '../src/operations/provisioning/opaque-names.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
const ids: Record<string, string> = {};

async function create(slug: string) {
  const res = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: `Name of ${slug}`, slug, admin: { email: `admin@${slug}.test`, password: 'admin-password' } },
  });
  expect(res.status, res.text).toBe(201);
  ids[slug] = res.body.id;
  return res.body;
}

async function tenantRun<T>(slug: string, work: Parameters<TestSilo['ctx']['tenants']['run']>[1]): Promise<T> {
  const company = await t.ctx.tenants.company(ids[slug]!);
  return (await t.ctx.tenants.run(company!, work)) as T;
}

/** Every row of every catalog relation the company's role may read, as text. */
async function catalogText(slug: string): Promise<string> {
  return tenantRun(slug, async (db) => {
    const relations = rowsOf<{ name: string }>(
      await db.execute(sql`
        select format('%I.%I', n.nspname, c.relname) as name
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname in ('pg_catalog', 'information_schema') and c.relkind in ('r', 'v', 'm')
          and has_table_privilege(c.oid, 'select')`),
    );
    expect(relations.length).toBeGreaterThan(100);
    const texts: string[] = [];
    for (const { name } of relations) {
      // A view may still refuse a column (pg_authid's) or need a function the role lacks.
      const rows = await db.execute(sql.raw(`select t::text as row from ${name} t`)).catch(() => []);
      for (const row of rowsOf<{ row: string }>(rows)) texts.push(`${name}: ${row.row}`);
    }
    return texts.join('\n');
  });
}

/** What an older Silo made: the company's database and role named after its slug. */
async function giveLegacyNames(slug: string) {
  const id = ids[slug]!;
  const now = tenantNames(t.config.dbPrefix, { id });
  const legacy = legacyTenantNames(t.config.dbPrefix, slug);
  t.ctx.tenants.forget(id);
  await t.admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${now.database}`;
  await t.admin.unsafe(`alter database ${quoteIdent(now.database)} rename to ${quoteIdent(legacy.database)}`);
  await t.admin.unsafe(`alter role ${quoteIdent(now.role)} rename to ${quoteIdent(legacy.role)}`);
  await t.ctx.db.update(companies).set({ databaseName: legacy.database, roleName: legacy.role }).where(eq(companies.id, id));
  await t.ctx.tenants.companyChanged(id);
  return legacy;
}

async function documentTitles(slug: string): Promise<string[]> {
  const login = await t.call('POST', '/api/auth/login', {
    token: null,
    body: { email: `admin@${slug}.test`, password: 'admin-password', company: slug },
  });
  expect(login.status).toBe(200);
  const res = await t.call('GET', '/api/documents', { token: login.body.token });
  expect(res.status).toBe(200);
  return res.body.items.map((d: { title: string }) => d.title);
}

beforeAll(async () => {
  t = await createTestSilo();
  await create('zephyr-looker');
  await create('quasar-rival');
});

afterAll(async () => {
  await t?.close();
});

describe('catalog isolation', () => {
  it('gives a company database and role names that say nothing of it', async () => {
    const [row] = await t.ctx.db.select().from(companies).where(eq(companies.id, ids['quasar-rival']!));
    expect(row!.databaseName).toBe(tenantNames(t.config.dbPrefix, row!).database);
    expect(row!.databaseName).toMatch(new RegExp(`^${t.config.dbPrefix}_0[0-9a-f]{24}$`));
    expect(row!.databaseName).not.toContain('quasar');
    expect(row!.databaseName).not.toContain(row!.id.replaceAll('-', '').slice(0, 8));
  });

  it("lets a company's SQL find no other company's slug, name or id in any catalog it can read", async () => {
    // The rival is connected meanwhile, so pg_stat_activity has its session.
    const text = await tenantRun<string>('quasar-rival', async () => catalogText('zephyr-looker'));
    // The check can fail: the company's own database name is there.
    const own = tenantNames(t.config.dbPrefix, { id: ids['zephyr-looker']! }).database;
    expect(text).toContain(own);
    for (const secret of ['quasar', 'Name of quasar', ids['quasar-rival']!, ids['quasar-rival']!.replaceAll('-', '')]) {
      expect(text.includes(secret), secret).toBe(false);
    }
  });

  it('renames a company made with slug-based names on reconcile --fix; the company keeps its data and logins', async () => {
    await create('elder-firm');
    await tenantRun('elder-firm', (db) => db.execute(sql`insert into documents (title, content) values ('kept', 'x')`));
    const legacy = await giveLegacyNames('elder-firm');
    expect(await documentTitles('elder-firm')).toEqual(['kept']);
    expect(await catalogText('zephyr-looker')).toContain('elder_firm');

    const report = await reconcile(t.ctx, { fix: false, actor: 'test' });
    expect(report).toEqual([expect.objectContaining({ kind: 'legacy_names', name: 'elder-firm', fixed: false })]);
    const fixed = await reconcile(t.ctx, { fix: true, actor: 'test' });
    expect(fixed).toEqual([expect.objectContaining({ kind: 'legacy_names', name: 'elder-firm', fixed: true })]);

    const target = tenantNames(t.config.dbPrefix, { id: ids['elder-firm']! });
    const [row] = await t.ctx.db.select().from(companies).where(eq(companies.id, ids['elder-firm']!));
    expect(row).toMatchObject({ databaseName: target.database, roleName: target.role });
    const left = await t.admin`
      select datname as name from pg_database where datname = ${legacy.database}
      union all select rolname from pg_roles where rolname = ${legacy.role}`;
    expect(left).toEqual([]);
    expect(await documentTitles('elder-firm')).toEqual(['kept']);
    expect(await catalogText('zephyr-looker')).not.toContain('elder');
    expect(await reconcile(t.ctx, { fix: false, actor: 'test' })).toEqual([]);
  });

  it('finishes a rename interrupted between its two hops', async () => {
    await create('halted-co');
    const id = ids['halted-co']!;
    const target = tenantNames(t.config.dbPrefix, { id });
    const stopover = renameStopover(t.config.dbPrefix, target);
    // The state a crash after hop 1 leaves: the row on the opaque names, the database hidden.
    t.ctx.tenants.forget(id);
    await t.admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${target.database}`;
    await t.admin.unsafe(`alter database ${quoteIdent(target.database)} allow_connections false`);
    await t.admin.unsafe(`alter database ${quoteIdent(target.database)} rename to ${quoteIdent(stopover.database)}`);
    await t.admin.unsafe(`alter role ${quoteIdent(target.role)} rename to ${quoteIdent(stopover.role)}`);

    const fixed = await reconcile(t.ctx, { fix: true, actor: 'test' });
    expect(fixed).toEqual([expect.objectContaining({ kind: 'legacy_names', name: 'halted-co', fixed: true })]);
    expect(await documentTitles('halted-co')).toEqual([]);
  });
});
