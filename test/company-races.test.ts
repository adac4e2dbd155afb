// Operators racing each other on one company: deletes of one company, creates of one slug, and
// creates racing deletes. Every request answers a 2xx or a 4xx that says why, the audit log shows
// what really happened, and nothing is left half-made (no database or role without its company).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantNamePattern } from '../src/base/names.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;

beforeAll(async () => {
  t = await createTestSilo();
});
afterAll(async () => {
  await t?.close();
});

const create = (slug: string) =>
  t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: slug, slug, admin: { email: `boss@${slug}.test`, password: 'boss-password' } },
  });
const remove = (slug: string) => t.call('DELETE', `/api/companies/${slug}`, { token: t.adminToken, headers: { 'x-confirm': slug } });

/** Databases and roles on the server with this Silo's prefix that no live company owns, and live companies without a database. */
async function orphans() {
  const pattern = tenantNamePattern(t.config.dbPrefix);
  const databases = (
    await t.admin<{ name: string }[]>`
    select datname as name from pg_database where datname like ${pattern.like} and datname not like ${pattern.notLike}`
  ).map((r) => r.name);
  const roles = (
    await t.admin<{ name: string }[]>`
    select rolname as name from pg_roles where rolname like ${pattern.like} and rolname not like ${pattern.notLike}`
  ).map((r) => r.name);
  const live = await t.ctx.sql<{ slug: string; database: string | null; role: string | null }[]>`
    select slug, database_name as database, role_name as role from companies where status <> 'deleted'`;
  return {
    databases: databases.filter((name) => !live.some((c) => c.database === name)),
    roles: roles.filter((name) => !live.some((c) => c.role === name)),
    missing: live.filter((c) => c.database && !databases.includes(c.database)).map((c) => c.slug),
  };
}

describe('racing operators', () => {
  it('deletes a company once when eight deletes race', async () => {
    expect((await create('race-delete')).status).toBe(201);
    const results = await Promise.all(Array.from({ length: 8 }, () => remove('race-delete')));
    const statuses = results.map((r) => r.status).sort();
    expect(
      statuses.filter((s) => s === 200),
      JSON.stringify(results.map((r) => r.text)),
    ).toHaveLength(1);
    for (const loser of results.filter((r) => r.status !== 200)) {
      expect([404, 409]).toContain(loser.status);
      expect(loser.body.error.code).toMatch(/^(not_found|conflict)$/);
    }
    const logs = await t.call('GET', '/api/companies/race-delete/logs?limit=100', { token: t.adminToken });
    expect(logs.body.items.filter((e: { action: string }) => e.action === 'deleted')).toHaveLength(1);
    expect(await orphans()).toEqual({ databases: [], roles: [], missing: [] });
  });

  // More deletes at once than the management pool has connections: each holds its company's
  // delete lock while it works, and the locks must never take the connections the work needs.
  it('deletes twenty companies at once, each once and all answered', async () => {
    const slugs = Array.from({ length: 20 }, (_, i) => `many-delete-${i}`);
    for (const slug of slugs) expect((await create(slug)).status).toBe(201);
    const databases = (
      await t.ctx.sql<{ database: string }[]>`select database_name as database from companies where slug in ${t.ctx.sql(slugs)}`
    ).map((r) => r.database);
    expect(databases).toHaveLength(20);
    const started = performance.now();
    const results = await Promise.all(slugs.map((slug) => remove(slug)));
    const seconds = (performance.now() - started) / 1000;
    expect(
      results.map((r) => r.status),
      JSON.stringify(results.filter((r) => r.status !== 200).map((r) => r.text)),
    ).toEqual(slugs.map(() => 200));
    // Before the locks had connections of their own, these deletes waited for a connection no one
    // would release, until they failed with 503 or the test timed out.
    expect(seconds).toBeLessThan(45);
    const rows = await t.ctx.sql<{ status: string }[]>`select status from companies where slug in ${t.ctx.sql(slugs)}`;
    expect(rows.map((r) => r.status)).toEqual(slugs.map(() => 'deleted'));
    const left = await t.admin<{ name: string }[]>`select datname as name from pg_database where datname in ${t.admin(databases)}`;
    expect(left).toEqual([]);
    // One `deleted` entry per company, however the deletes interleaved.
    const audit = await t.ctx.sql<{ n: number }[]>`
      select count(l.id)::int as n from companies c
      left join company_database_logs l on l.company_id = c.id and l.action = 'deleted'
      where c.slug in ${t.ctx.sql(slugs)} group by c.id`;
    expect(audit.map((r) => r.n)).toEqual(slugs.map(() => 1));
    expect(await orphans()).toEqual({ databases: [], roles: [], missing: [] });
  }, 90_000);

  it('creates one company when eight creates of one slug race', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => create('race-create')));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    for (const loser of results.filter((r) => r.status !== 201)) expect(loser.status).toBe(409);
    expect(await orphans()).toEqual({ databases: [], roles: [], missing: [] });
  });

  it('leaves nothing half-made when creates race deletes of one slug', async () => {
    const answers: number[] = [];
    for (let round = 0; round < 4; round++) {
      const slug = `race-mix-${round}`;
      const results = await Promise.all([
        create(slug),
        ...Array.from({ length: 3 }, (_, i) => new Promise((r) => setTimeout(r, 20 * i)).then(() => remove(slug))),
        new Promise((r) => setTimeout(r, 30)).then(() => create(slug)),
      ]);
      answers.push(...results.map((r) => r.status));
      for (const r of results) expect(r.status, r.text).toBeLessThan(500);
    }
    expect(answers.filter((s) => s === 201).length).toBeGreaterThanOrEqual(4);
    expect(await orphans()).toEqual({ databases: [], roles: [], missing: [] });
  });
});
