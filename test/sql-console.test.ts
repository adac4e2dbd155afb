// The company SQL console over HTTP: company admins only, results in the contract's shape, every
// refusal a 400 with the database's message, history and saved queries kept per company, the
// schema listing only the company's own tables, and many admins of several companies at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
const tokens: Record<string, string> = {};
const SLUGS = ['con-a', 'con-b', 'con-c', 'con-d'];

async function logIn(slug: string, email: string, password: string) {
  const res = await t.call('POST', '/api/auth/login', { token: null, body: { email, password, company: slug } });
  expect(res.status).toBe(200);
  return res.body.token as string;
}

const runSql = (slug: string, body: Record<string, unknown>) => t.call('POST', '/api/sql', { token: tokens[slug]!, body });

beforeAll(async () => {
  t = await createTestSilo();
  for (const slug of SLUGS) {
    const admin = { email: `admin@${slug}.test`, password: 'admin-password' };
    expect((await t.call('POST', '/api/companies', { token: t.adminToken, body: { name: slug, slug, admin } })).status).toBe(201);
    tokens[slug] = await logIn(slug, admin.email, admin.password);
    const doc = await t.call('POST', '/api/documents', { token: tokens[slug]!, body: { title: `doc of ${slug}`, content: 'x' } });
    expect(doc.status).toBe(201);
  }
  const member = await t.call('POST', '/api/users', {
    token: tokens['con-a']!,
    body: { email: 'member@con-a.test', password: 'member-password', role: 'member' },
  });
  expect(member.status).toBe(201);
  tokens.member = await logIn('con-a', 'member@con-a.test', 'member-password');
});

afterAll(async () => {
  await t?.close();
});

describe('POST /api/sql', () => {
  it('answers columns, rows, rowCount, truncated and ms', async () => {
    const res = await runSql('con-a', { sql: 'select title, $1::int as n from documents', params: [7] });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      columns: [
        { name: 'title', type: 'text' },
        { name: 'n', type: 'integer' },
      ],
      rows: [['doc of con-a', 7]],
      rowCount: 1,
      truncated: false,
      ms: expect.any(Number),
    });
  });

  it('cuts at maxRows, never above the configured cap', async () => {
    const res = await runSql('con-a', { sql: 'select generate_series(1, 5000)', maxRows: 3 });
    expect(res.body).toMatchObject({ rowCount: 3, truncated: true });
    const capped = await runSql('con-a', { sql: 'select generate_series(1, 5000)', maxRows: 100_000 });
    expect(capped.body).toMatchObject({ rowCount: t.config.sql.maxRows, truncated: true });
  });

  it('answers 400 validation_failed with the database message for a write, a second statement and an error', async () => {
    const write = await runSql('con-a', { sql: 'delete from documents' });
    expect(write.status).toBe(400);
    expect(write.body.error).toEqual({
      code: 'validation_failed',
      message: 'cannot execute DELETE in a read-only transaction',
      details: { sqlState: '25006' },
    });
    const two = await runSql('con-a', { sql: 'select 1; drop table documents' });
    expect(two.status).toBe(400);
    expect(two.body.error.details).toEqual({ sqlState: '42601' });
    const missing = await runSql('con-a', { sql: 'select * from con_b_secrets' });
    expect(missing.body.error).toMatchObject({ code: 'validation_failed', message: 'relation "con_b_secrets" does not exist' });
    expect((await runSql('con-a', { sql: 'select count(*)::int from documents' })).body.rows).toEqual([[1]]);
  });

  it('refuses a body that is not one SQL text with 400, and members and system admins with 403', async () => {
    expect((await runSql('con-a', { sql: '' })).status).toBe(400);
    expect((await runSql('con-a', { sql: 'select 1', params: [{ a: 1 }] })).status).toBe(400);
    expect((await t.call('POST', '/api/sql', { token: tokens.member!, body: { sql: 'select 1' } })).status).toBe(403);
    expect((await t.call('POST', '/api/sql', { token: t.adminToken, body: { sql: 'select 1' } })).status).toBe(403);
    expect((await t.call('GET', '/api/sql/history', { token: tokens.member! })).status).toBe(403);
  });

  it('serves 24 admins of four companies at once, each seeing only its own rows', async () => {
    const runs = Array.from({ length: 24 }, (_, i) => SLUGS[i % SLUGS.length]!);
    const answers = await Promise.all(runs.map((slug) => runSql(slug, { sql: 'select title from documents' })));
    expect(answers.map((a) => a.status)).toEqual(runs.map(() => 200));
    expect(answers.map((a) => a.body.rows)).toEqual(runs.map((slug) => [[`doc of ${slug}`]]));
  });

  it('counts runs in /metrics', async () => {
    const metrics = await t.call('GET', '/metrics', { token: t.adminToken });
    expect(metrics.text).toMatch(/silo_sql_runs\{source="console",outcome="ok"\} [1-9]/);
    expect(metrics.text).toMatch(/silo_sql_runs\{source="console",outcome="refused"\} [1-9]/);
  });
});

describe('GET /api/sql/history', () => {
  it("lists the company's runs newest first, with errors, and never another company's", async () => {
    await runSql('con-b', { sql: 'select 42 as answer' });
    await runSql('con-b', { sql: 'update documents set title = title' });
    const res = await t.call('GET', '/api/sql/history?limit=2', { token: tokens['con-b']! });
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([
      expect.objectContaining({
        sql: 'update documents set title = title',
        ok: false,
        rowCount: null,
        error: expect.stringContaining('25006'),
      }),
      expect.objectContaining({ sql: 'select 42 as answer', ok: true, rowCount: 1 }),
    ]);
    expect(res.body.items[1].error).toBeUndefined();
    expect(res.body.nextCursor).toEqual(expect.any(String));
    const a = await t.call('GET', '/api/sql/history?limit=200', { token: tokens['con-a']! });
    expect(a.body.items.some((e: { sql: string }) => e.sql.includes('42 as answer'))).toBe(false);
  });
});

describe('GET /api/sql/schema', () => {
  it("lists the company's own tables with their columns", async () => {
    const res = await t.call('GET', '/api/sql/schema', { token: tokens['con-c']! });
    expect(res.status).toBe(200);
    const names = res.body.tables.map((table: { schema: string; name: string }) => `${table.schema}.${table.name}`);
    expect(names).toEqual(expect.arrayContaining(['public.documents', 'public.users', 'public.sql_history', 'public.saved_queries']));
    expect(names.every((n: string) => !n.startsWith('pg_catalog.') && !n.startsWith('information_schema.'))).toBe(true);
    const documents = res.body.tables.find((table: { name: string }) => table.name === 'documents');
    expect(documents.columns).toEqual(
      expect.arrayContaining([
        { name: 'title', type: 'text', nullable: false },
        { name: 'created_by', type: 'uuid', nullable: true },
      ]),
    );
  });
});

describe('saved queries', () => {
  it('saves, searches by the question, deletes, and keeps each company to its own', async () => {
    const saved = await t.call('POST', '/api/sql/saved', {
      token: tokens['con-d']!,
      body: { question: 'How many documents do we have?', sql: 'select count(*) from documents' },
    });
    expect(saved.status).toBe(201);
    expect(saved.body).toMatchObject({ question: 'How many documents do we have?', sql: 'select count(*) from documents' });
    await t.call('POST', '/api/sql/saved', {
      token: tokens['con-d']!,
      body: { question: 'Who are our users?', sql: 'select email from users' },
    });

    const found = await t.call('GET', '/api/sql/saved?q=documents', { token: tokens['con-d']! });
    expect(found.body.items.map((s: { question: string }) => s.question)).toEqual(['How many documents do we have?']);
    const all = await t.call('GET', '/api/sql/saved', { token: tokens['con-d']! });
    expect(all.body.items).toHaveLength(2);

    // Another company sees none of them, and cannot delete them.
    expect((await t.call('GET', '/api/sql/saved', { token: tokens['con-c']! })).body.items).toEqual([]);
    expect((await t.call('DELETE', `/api/sql/saved/${saved.body.id}`, { token: tokens['con-c']! })).status).toBe(404);

    expect((await t.call('DELETE', `/api/sql/saved/${saved.body.id}`, { token: tokens['con-d']! })).status).toBe(204);
    expect((await t.call('DELETE', `/api/sql/saved/${saved.body.id}`, { token: tokens['con-d']! })).status).toBe(404);
    expect((await t.call('GET', '/api/sql/saved', { token: tokens['con-d']! })).body.items).toHaveLength(1);
  });
});
