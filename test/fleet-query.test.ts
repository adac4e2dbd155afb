// The fleet fan-out query over 50 companies, one of them on a server that is then stopped, one whose
// query times out, one whose schema lacks the column asked for, one suspended: every other company
// answers, each failure is its own line with the right error, the summary counts them, the NDJSON
// parses line by line, and the CLI's --csv parses as CSV.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedServer, freePort, startEmbeddedPostgres } from '../src/base/embedded/embedded-postgres.ts';
import { cliFor } from './support/cli.ts';
import { createTestSilo, namesOf, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
let second: EmbeddedServer | undefined;
let secondDir: string;
const ids: Record<string, string> = {};
const SLUGS = Array.from({ length: 46 }, (_, i) => `fleet-${String(i).padStart(2, '0')}`);
const SLOW = 'fleet-slow';
const RENAMED = 'fleet-renamed';
const ASLEEP = 'fleet-asleep';
const GONE = 'fleet-gone';

async function create(slug: string, serverId?: string) {
  const res = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: slug, slug, admin: { email: `admin@${slug}.test`, password: 'admin-password' }, ...(serverId ? { serverId } : {}) },
  });
  expect(res.status, res.text).toBe(201);
  ids[slug] = res.body.id;
}

async function inTenant(slug: string, statement: ReturnType<typeof sql>) {
  const company = await t.ctx.tenants.company(ids[slug]!);
  return t.ctx.tenants.run(company!, (db) => db.execute(statement));
}

/** POST /api/fleet/query, its NDJSON answer parsed line by line. */
async function fleetQuery(body: Record<string, unknown>) {
  const res = await t.call('POST', '/api/fleet/query', { token: t.adminToken, body });
  expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
  const lines = res.text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
  return { status: res.status, lines };
}

// The slow company's query sleeps past the timeout; the others' do not (current_database() tells
// them apart, and is the same text for the HTTP run and the CLI's).
const QUERY = `select count(*)::int as documents, min(title) as first
  from documents, (select pg_sleep(case when current_database() = $1 then 5 else 0 end)) s`;

beforeAll(async () => {
  t = await createTestSilo({ env: { SILO_LOG_LEVEL: 'warn', SILO_TENANT_CONNECT_TIMEOUT: '2' } });
  for (let i = 0; i < SLUGS.length; i += 8) await Promise.all(SLUGS.slice(i, i + 8).map((slug) => create(slug)));
  await Promise.all([create(SLOW), create(RENAMED), create(ASLEEP)]);
  // Only now the second server: placement would put new companies there.
  secondDir = mkdtempSync(join(tmpdir(), 'silo-fleet-second-'));
  second = await startEmbeddedPostgres(secondDir, { port: await freePort() });
  const added = await t.call('POST', '/api/servers', { token: t.adminToken, body: { name: 'second', url: second.url } });
  expect(added.status, added.text).toBe(201);
  await create(GONE, added.body.id);
  for (const slug of [...SLUGS, SLOW, RENAMED, GONE]) {
    await inTenant(slug, sql`insert into documents (title, content) values (${`first of ${slug}`}, 'x'), ('zz', 'y')`);
  }
  await inTenant(RENAMED, sql`alter table documents rename column title to heading`);
  expect((await t.call('PATCH', `/api/companies/${ASLEEP}`, { token: t.adminToken, body: { status: 'suspended' } })).status).toBe(200);
  // The second server goes away with the company on it; its pool goes first.
  t.ctx.tenants.forget(ids[GONE]!);
  await t.ctx.servers.forget(added.body.id);
  await second.stop();
}, 240_000);

afterAll(async () => {
  await t?.close();
  await second?.stop().catch(() => {});
  rmSync(secondDir, { recursive: true, force: true });
});

describe('POST /api/fleet/query', () => {
  it('answers every company that can answer, each failure on its own line, and the counts', async () => {
    const slow = (await namesOf(t, SLOW)).database;
    const { status, lines } = await fleetQuery({ sql: QUERY, params: [slow], timeoutMs: 1000, concurrency: 16 });
    expect(status).toBe(200);
    const summary = lines.at(-1);
    expect(summary).toEqual({ summary: { companies: 50, succeeded: 46, failed: 3, skipped: 1, ms: expect.any(Number) } });
    const bySlug = new Map(lines.slice(0, -1).map((line) => [line.company.slug, line]));
    expect(bySlug.size).toBe(50);
    for (const slug of SLUGS) {
      expect(bySlug.get(slug)).toMatchObject({
        company: { id: ids[slug], slug },
        ok: true,
        columns: [
          { name: 'documents', type: 'integer' },
          { name: 'first', type: 'text' },
        ],
        rows: [[2, `first of ${slug}`]],
      });
    }
    expect(bySlug.get(SLOW)).toMatchObject({ ok: false, error: { code: 'validation_failed', sqlState: '57014' } });
    expect(bySlug.get(RENAMED)).toMatchObject({
      ok: false,
      error: { code: 'validation_failed', sqlState: '42703', message: 'column "title" does not exist' },
    });
    expect(bySlug.get(GONE)).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(bySlug.get(ASLEEP)).toMatchObject({ ok: false, skipped: true, error: { code: 'skipped', message: 'the company is suspended' } });
    // No failure names a host, a port or another company.
    for (const slug of [SLOW, RENAMED, GONE]) expect(JSON.stringify(bySlug.get(slug).error)).not.toMatch(/127\.0\.0\.1|localhost|fleet-\d/);
  }, 60_000);

  it('takes only and exclude, by slug or id, and refuses unknown companies with 400', async () => {
    const only = await fleetQuery({ sql: 'select 1 as one', only: [SLUGS[0], ids[SLUGS[1]!]] });
    expect(
      only.lines
        .slice(0, -1)
        .map((l) => l.company.slug)
        .sort(),
    ).toEqual([SLUGS[0], SLUGS[1]]);
    const all = await fleetQuery({ sql: 'select 1 as one', exclude: [GONE, SLOW, ...SLUGS] });
    expect(all.lines.at(-1).summary).toMatchObject({ companies: 2, succeeded: 1, skipped: 1 });
    const unknown = await t.call('POST', '/api/fleet/query', { token: t.adminToken, body: { sql: 'select 1', only: ['nobody-here'] } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('validation_failed');
  });

  it('refuses writes on every company, each by PostgreSQL', async () => {
    const { lines } = await fleetQuery({ sql: 'delete from documents', only: SLUGS.slice(0, 5) });
    expect(lines.slice(0, -1).map((l) => l.error?.sqlState)).toEqual(['25006', '25006', '25006', '25006', '25006']);
    expect(await inTenant(SLUGS[0]!, sql`select count(*)::int as n from documents`)).toEqual([{ n: 2 }]);
  });
});

describe('silo fleet query', () => {
  it('prints CSV with the company first, and fails with the failures on stderr', async () => {
    const silo = cliFor(t);
    const slow = (await namesOf(t, SLOW)).database;
    const res = await silo('fleet', 'query', QUERY.replace('$1', `'${slow}'`), '--csv', '--timeout-ms', '1000', '--exclude', GONE);
    expect(res.code).toBe(1);
    const rows = parse(res.stdout) as string[][];
    expect(rows[0]).toEqual(['company', 'documents', 'first']);
    expect(rows.slice(1).sort()).toEqual(SLUGS.map((slug) => [slug, '2', `first of ${slug}`]));
    expect(res.stderr).toContain(`failed: ${SLOW}: canceling statement due to statement timeout`);
    expect(res.stderr).toContain(`skipped: ${ASLEEP}: the company is suspended`);
  }, 60_000);

  it('prints NDJSON with --json, and exits 0 when nothing failed', async () => {
    const silo = cliFor(t);
    const res = await silo('fleet', 'query', 'select count(*)::int as n from documents', '--json', '--only', `${SLUGS[0]},${SLUGS[1]}`);
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toHaveLength(3);
    expect(lines.at(-1).summary).toMatchObject({ companies: 2, succeeded: 2, failed: 0 });
  });
});
