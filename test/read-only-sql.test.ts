// The read-only executor on real companies: every way of changing something is refused by
// PostgreSQL (each refusal's SQLSTATE is asserted), limits hold, nothing of a run outlives it on
// the pooled connection, and many concurrent runs over several companies see only their own data.
// All of it twice: through the company's pool, and on a connection opened for the run alone (what
// a fleet query does for a company whose pool is not open, with BEGIN sent along with the query).
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReadOnlyLimits, type ReadOnlyResult, runReadOnly, SqlRefused } from '../src/data-plane/read-only-sql.ts';
import { runCompanySql } from '../src/operations/querying/company-sql.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
const ids: Record<string, string> = {};
const SLUGS = ['ro-a', 'ro-b', 'ro-c', 'ro-d'];
const LIMITS: ReadOnlyLimits = { statementTimeoutMs: 2_000, idleInTransactionTimeoutMs: 5_000, maxRows: 100 };

type Mode = 'through the pool' | 'on a connection of its own';
let mode: Mode = 'through the pool';

async function run(slug: string, text: string, params: unknown[] = [], limits: Partial<ReadOnlyLimits> = {}): Promise<ReadOnlyResult> {
  const company = (await t.ctx.tenants.company(ids[slug]!))!;
  if (mode === 'on a connection of its own')
    return runCompanySql(t.ctx, company, 'fleet', text, params, { ...LIMITS, ...limits }, 'own connection');
  return t.ctx.tenants.run(company, (db) => runReadOnly(db, text, params, { ...LIMITS, ...limits }));
}

/** The SQLSTATE a run was refused with (fails the test when the run succeeded). */
async function refused(slug: string, text: string, params: unknown[] = []): Promise<string> {
  const error = await run(slug, text, params).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, text).toBeInstanceOf(SqlRefused);
  return (error as SqlRefused).sqlState;
}

async function inTenant(slug: string, statement: ReturnType<typeof sql>) {
  const company = await t.ctx.tenants.company(ids[slug]!);
  return t.ctx.tenants.run(company!, (db) => db.execute(statement));
}

beforeAll(async () => {
  t = await createTestSilo();
  for (const slug of SLUGS) {
    const res = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: slug, slug, admin: { email: `admin@${slug}.test`, password: 'admin-password' } },
    });
    expect(res.status).toBe(201);
    ids[slug] = res.body.id;
    await inTenant(slug, sql`insert into documents (title, content) values (${`only-${slug}`}, 'x')`);
  }
  await inTenant('ro-a', sql`create sequence ro_counter`);
});

afterAll(async () => {
  await t?.close();
});

describe.each<Mode>(['through the pool', 'on a connection of its own'])('the read-only executor, %s', (runMode) => {
  beforeAll(() => {
    mode = runMode;
  });

  it('answers columns with type names, rows as arrays, and binds parameters as values', async () => {
    const result = await run('ro-a', 'select $1::text as said, 42::int8 as n, now() as at, $2::int as two', [
      "'; drop table documents; --",
      2,
    ]);
    expect(result.columns).toEqual([
      { name: 'said', type: 'text' },
      { name: 'n', type: 'bigint' },
      { name: 'at', type: 'timestamp with time zone' },
      { name: 'two', type: 'integer' },
    ]);
    expect(result.rows[0]?.[0]).toBe("'; drop table documents; --");
    expect(result.rows[0]?.[1]).toBe('42');
    expect(result.rows[0]?.[3]).toBe(2);
    expect(result).toMatchObject({ rowCount: 1, truncated: false });
  });

  it('names types it has no fixed name for by asking the database', async () => {
    const result = await run('ro-a', "select '1 day'::interval as span, 'a'::name as n, 1::int2 as small");
    expect(result.columns.map((c) => c.type)).toEqual(['interval', 'name', 'smallint']);
  });

  it('answers arrays of built-in types as arrays, run after run', async () => {
    for (let i = 0; i < 3; i++) {
      const result = await run('ro-a', "select array[1, 2] as ints, array['a', 'b'] as texts");
      expect(result.columns.map((c) => c.type)).toEqual(['integer[]', 'text[]']);
      expect(result.rows).toEqual([
        [
          [1, 2],
          ['a', 'b'],
        ],
      ]);
    }
  });

  it('answers a query with no rows with its columns', async () => {
    const result = await run('ro-a', "select id, title from documents where title = 'none'");
    expect(result.columns.map((c) => c.name)).toEqual(['id', 'title']);
    expect(result).toMatchObject({ rows: [], rowCount: 0, truncated: false });
  });

  it('keeps at most maxRows rows and says it cut', async () => {
    const cut = await run('ro-a', 'select g from generate_series(1, 5000) g', [], { maxRows: 10 });
    expect(cut.rows).toEqual(Array.from({ length: 10 }, (_, i) => [i + 1]));
    expect(cut).toMatchObject({ rowCount: 10, truncated: true });
    const whole = await run('ro-a', 'select g from generate_series(1, 10) g', [], { maxRows: 10 });
    expect(whole).toMatchObject({ rowCount: 10, truncated: false });
  });

  it('refuses writes, DDL and sequence writes by the read-only transaction', async () => {
    expect(await refused('ro-a', "insert into documents (title, content) values ('w', 'w')")).toBe('25006');
    expect(await refused('ro-a', 'delete from documents')).toBe('25006');
    expect(await refused('ro-a', 'create table sneaky (a int)')).toBe('25006');
    expect(await refused('ro-a', 'drop table documents')).toBe('25006');
    expect(await refused('ro-a', "select nextval('ro_counter')")).toBe('25006');
    expect(await refused('ro-a', "select setval('ro_counter', 5)")).toBe('25006');
    // A function that writes is refused the same way, whatever it is called.
    expect(await refused('ro-a', "with w as (update documents set title = 'x' returning 1) select * from w")).toBe('25006');
    // The snapshot is taken before the caller's statement: read-write can no longer be asked for.
    expect(await refused('ro-a', 'set transaction read write')).toBe('25001');
    const count = await inTenant('ro-a', sql`select count(*)::int as n from documents where title = 'only-ro-a'`);
    expect(count).toEqual([{ n: 1 }]);
  });

  it('refuses a second statement after a semicolon, whatever it is', async () => {
    expect(await refused('ro-a', 'select 1; delete from documents')).toBe('42601');
    expect(await refused('ro-a', 'commit; delete from documents')).toBe('42601');
    expect(await refused('ro-a', 'select 1;select 2')).toBe('42601');
  });

  it('refuses what only other roles may do: SET ROLE, SET SESSION AUTHORIZATION, server files and programs', async () => {
    const [superuser] = await t.admin`select quote_ident(current_user) as name`;
    expect(await refused('ro-a', `set role ${superuser!.name}`)).toBe('42501');
    expect(await refused('ro-a', `set session authorization ${superuser!.name}`)).toBe('42501');
    expect(await refused('ro-a', "select pg_read_file('/etc/passwd')")).toBe('42501');
    expect(await refused('ro-a', "copy (select 1) to program 'touch /tmp/silo-owned'")).toBe('42501');
    expect(await refused('ro-a', "copy documents to '/tmp/silo-owned'")).toBe('42501');
    // dblink is not installed, and installing it is DDL.
    expect(await refused('ro-a', "select * from dblink('dbname=postgres', 'select 1') as t(a int)")).toBe('42883');
    expect(await refused('ro-a', 'create extension dblink')).toBe('25006');
  });

  it('stops a query at the statement timeout, and the pool serves the next one at once', async () => {
    const started = performance.now();
    const error = await run('ro-b', 'select pg_sleep(30)', [], { statementTimeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SqlRefused);
    expect((error as SqlRefused).sqlState).toBe('57014');
    expect(performance.now() - started).toBeLessThan(5_000);
    const active = await t.admin`
      select count(*)::int as n from pg_stat_activity where query like '%pg_sleep(30)%' and state = 'active' and pid <> pg_backend_pid()`;
    expect(active[0]!.n).toBe(0);
    expect((await run('ro-b', 'select 1 as one')).rows).toEqual([[1]]);
  });

  it('leaves nothing of a run on the pooled connection: settings and advisory locks are undone', async () => {
    await run('ro-c', "select set_config('search_path', 'nowhere', false), set_config('work_mem', '77kB', false)");
    await run('ro-c', 'select pg_advisory_lock(4242)');
    // The pool of one company has a few connections: ask each of them.
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => run('ro-c', "select current_setting('search_path') as path, current_setting('work_mem') as wm")),
    );
    for (const answer of answers) expect(answer.rows[0]).not.toContain('nowhere');
    for (const answer of answers) expect(answer.rows[0]).not.toContain('77kB');
    const locks = await t.admin`select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = 4242`;
    expect(locks[0]!.n).toBe(0);
  });

  it('answers the database message of an SQL error, and nothing of the connection', async () => {
    const error = (await run('ro-a', 'select * from no_such_table').catch((e: unknown) => e)) as SqlRefused;
    expect(error).toBeInstanceOf(SqlRefused);
    expect(error.message).toBe('relation "no_such_table" does not exist');
    expect(error.details).toEqual({ sqlState: '42P01' });
  });

  it('serves 32 concurrent runs over four companies, each seeing only its own rows', async () => {
    const runs = Array.from({ length: 32 }, (_, i) => SLUGS[i % SLUGS.length]!);
    const results = await Promise.all(runs.map((slug) => run(slug, 'select title from documents order by title')));
    expect(results.map((r) => r.rows)).toEqual(runs.map((slug) => [[`only-${slug}`]]));
  });
});
