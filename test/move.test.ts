// Moving companies between database servers, against real PostgreSQL: the test server and a second
// embedded PostgreSQL registered with POST /api/servers. A move copies every table identically
// (checksums computed here, independently of the move's own), users log in and see their data
// afterwards, the old database and role are gone; writes answer 503 while the data is copied and a
// write that missed the hold never lands; a failure at any step, or the target stopped during the
// copy, leaves the company working on its old server and nothing on the target; draining empties a
// server; placement spreads companies over both servers within their capacity.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { eq, sql as dsql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.ts';
import type { MoveStep } from '../src/context.ts';
import { companies } from '../src/control-plane/schema.ts';
import { freePort, startEmbeddedPostgres, type EmbeddedServer } from '../src/base/embedded/embedded-postgres.ts';
import { tenantNamePattern, tenantNames } from '../src/base/names.ts';
import { reconcile } from '../src/operations/reconcile/reconcile.ts';
import { findCompany } from '../src/control-plane/company-records.ts';
import { createTestSilo, serverUrl, type TestSilo } from './support/test-silo.ts';
import { sealedAt } from '../src/base/crypto/credentials.ts';

const TABLES = ['users', 'documents', 'chat_sessions', 'chat_messages', 'user_invitations'] as const;
const PASSWORD = 'boss-password';

let t: TestSilo;
let secondDir: string;
let second: EmbeddedServer | undefined;
let secondUrl: string;
let defaultId: string;
let secondId: string;

interface Tenant {
  slug: string;
  id: string;
  token: string;
}

/** A company on a given server, with its first admin logged in. */
async function createTenant(slug: string, serverId?: string): Promise<Tenant> {
  const created = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: slug, slug, admin: { email: `boss@${slug}.test`, password: PASSWORD }, ...(serverId ? { serverId } : {}) },
  });
  expect(created.status, created.text).toBe(201);
  return { slug, id: created.body.id, token: await logIn(slug, `boss@${slug}.test`) };
}

async function logIn(slug: string, email: string): Promise<string> {
  const res = await t.call('POST', '/api/auth/login', { token: null, body: { email, password: PASSWORD, company: slug } });
  expect(res.status, res.text).toBe(200);
  return res.body.token;
}

/** An admin client on a tenant database of the test server or of the second one; times print in UTC. */
function adminClient(server: 'default' | 'second', database: string) {
  const url = new URL(server === 'default' ? serverUrl(database) : secondUrl);
  url.pathname = `/${database}`;
  return postgres(url.toString(), { max: 1, onnotice: () => {}, connection: { TimeZone: 'UTC' } });
}

async function withAdmin<T>(server: 'default' | 'second', database: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = adminClient(server, database);
  try {
    return await run(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** Row counts and an md5 over every row's text, sorted, per table: computed apart from the move's own checks. */
function contents(server: 'default' | 'second', database: string) {
  return withAdmin(server, database, async (sql) => {
    const result: Record<string, { rows: number; md5: string | null }> = {};
    for (const table of TABLES) {
      const [row] = await sql<{ rows: number; md5: string | null }[]>`
        select count(*)::int as rows, md5(string_agg(t::text, '|' order by t::text)) as md5 from ${sql(table)} t`;
      result[table] = row!;
    }
    return result;
  });
}

/** Thousands of rows in several tables, written as the company's own role would. */
async function seed(tenant: Tenant, scale = 1) {
  const database = tenantNames(t.config.dbPrefix, tenant).database;
  await withAdmin('default', database, async (sql) => {
    await sql.begin(async (tx) => {
      await tx`
        insert into users (email, name, role, password_hash)
        select 'user' || i || '@' || ${tenant.slug} || '.test', 'User ' || i, 'member', u.password_hash
        from generate_series(1, ${500 * scale}) i, (select password_hash from users limit 1) u`;
      await tx`
        insert into documents (title, content, tags, metadata, created_by, created_at)
        select 'Document ' || i, repeat('lorem ipsum dolor sit amet ' || i || ' ', 1 + i % 20),
               array['tag' || (i % 7), 'all'], jsonb_build_object('n', i, 'half', i % 2 = 0),
               (select id from users order by email offset (i % 500) limit 1),
               timestamptz '2025-01-01 00:00:00+00' + i * interval '1 minute'
        from generate_series(1, ${3000 * scale}) i`;
      await tx`
        insert into chat_sessions (user_id, title)
        select id, 'Session of ' || email from users`;
      await tx`
        insert into chat_messages (session_id, role, content)
        select s.id, (array['user', 'assistant', 'system'])[1 + i % 3], 'message ' || i || ' in ' || coalesce(s.title, '')
        from chat_sessions s, generate_series(1, 10) i`;
      await tx`
        insert into user_invitations (email, role, token_hash, expires_at)
        select 'invited' || i || '@' || ${tenant.slug} || '.test', 'member', md5(${tenant.slug} || i), now() + interval '7 days'
        from generate_series(1, 150) i`;
    });
  });
}

async function databasesOn(server: 'default' | 'second'): Promise<string[]> {
  const pattern = tenantNamePattern(t.config.dbPrefix);
  return withAdmin(server, 'postgres', async (sql) => {
    const rows = await sql<{ name: string }[]>`
      select datname as name from pg_database where datname like ${pattern.like} and datname not like ${pattern.notLike}
      union all
      select 'role:' || rolname from pg_roles where rolname like ${pattern.like} and rolname not like ${pattern.notLike}`;
    return rows.map((r) => r.name).sort();
  });
}

/** The names of a company on a server: its database and its role, as databasesOn lists them. */
function namesOf(company: { id: string }): string[] {
  const names = tenantNames(t.config.dbPrefix, company);
  return [names.database, `role:${names.role}`];
}

const move = (slug: string, serverId: string) => t.call('POST', `/api/companies/${slug}/move`, { token: t.adminToken, body: { serverId } });

async function cli(...argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const env = { DATABASE_URL: t.config.databaseUrl!, SILO_DATA_DIR: t.config.dataDir, SILO_DB_PREFIX: t.config.dbPrefix };
  const code = await runCli(argv, {
    env,
    stdout: { write: (c: string) => stdout.push(c) },
    stderr: { write: (c: string) => stderr.push(c) },
  });
  return { code, stdout: stdout.join(''), stderr: stderr.join('') };
}

async function startSecond(): Promise<void> {
  second = await startEmbeddedPostgres(secondDir, { port: await freePort() });
  secondUrl = second.url;
}

beforeAll(async () => {
  t = await createTestSilo({ env: { SILO_LOG_LEVEL: 'warn' } });
  secondDir = mkdtempSync(join(tmpdir(), 'silo-second-'));
  await startSecond();
  const added = await t.call('POST', '/api/servers', { token: t.adminToken, body: { name: 'second', url: secondUrl } });
  expect(added.status, added.text).toBe(201);
  secondId = added.body.id;
  const servers = await t.call('GET', '/api/servers', { token: t.adminToken });
  defaultId = servers.body.items.find((s: { name: string }) => s.name === 'default').id;
});

afterAll(async () => {
  // Pools and admin connections to the second server end before it goes away.
  await t?.silo.close();
  await second?.stop();
  rmSync(secondDir, { recursive: true, force: true });
  await t?.close();
});

describe('moving a company', () => {
  let tenant: Tenant;

  beforeAll(async () => {
    tenant = await createTenant('mover', defaultId);
    await seed(tenant);
  });

  it('copies thousands of rows in several tables identically; its users log in and see their data; the old database is gone', async () => {
    const names = tenantNames(t.config.dbPrefix, tenant);
    const before = await contents('default', names.database);
    expect(before.documents!.rows).toBe(3000);
    expect(before.chat_messages!.rows).toBe(5010);
    const oldRow = (await findCompany(t.ctx, tenant.slug))!;

    const moved = await move(tenant.slug, secondId);
    expect(moved.status, moved.text).toBe(200);
    expect(moved.body).toMatchObject({ slug: tenant.slug, serverId: secondId, database: names.database, status: 'active' });
    expect(moved.body.move).toMatchObject({ fromServerId: defaultId, toServerId: secondId, via: 'template', oldDatabaseDropped: true });
    expect(moved.body.move.rows).toBe(Object.values(before).reduce((n, c) => n + c.rows, 0));
    expect(moved.body.move.writesHeldMs).toBeGreaterThan(0);
    expect(moved.text).not.toMatch(/password|credentials|postgres:\/\//i);

    expect(await contents('second', names.database)).toEqual(before);
    expect(await databasesOn('default')).not.toEqual(expect.arrayContaining([names.database]));
    expect((await databasesOn('default')).filter((n) => namesOf(tenant).includes(n))).toEqual([]);
    expect(await databasesOn('second')).toEqual(expect.arrayContaining(namesOf(tenant)));

    // A new password for the new role; the row points at the second server.
    const row = (await findCompany(t.ctx, tenant.slug))!;
    expect(row).toMatchObject({ serverId: secondId, movingTo: null, writesHeldUntil: null, moveLeaseUntil: null });
    expect(t.ctx.box.open(row.credentialsEncrypted!, sealedAt.companyCredentials(row.id))).not.toBe(
      t.ctx.box.open(oldRow.credentialsEncrypted!, sealedAt.companyCredentials(oldRow.id)),
    );

    // The token issued before the move still works, and a seeded user logs in and sees the data.
    expect((await t.call('GET', '/api/documents?limit=200', { token: tenant.token })).body.items).toHaveLength(200);
    const member = await logIn(tenant.slug, `user42@${tenant.slug}.test`);
    const found = await t.call('GET', '/api/documents?q=lorem&limit=5', { token: member });
    expect(found.status).toBe(200);
    expect(found.body.items).toHaveLength(5);
    const sessions = await t.call('GET', '/api/chat/sessions', { token: member });
    expect(sessions.body.items).toHaveLength(1);
    const messages = await t.call('GET', `/api/chat/sessions/${sessions.body.items[0].id}/messages`, { token: member });
    expect(messages.body.items).toHaveLength(10);
    const written = await t.call('POST', '/api/documents', {
      token: member,
      body: { title: 'after the move', content: 'written on the second server' },
    });
    expect(written.status, written.text).toBe(201);
    const health = await t.call('GET', '/api/health/tenant', { token: member });
    expect(health.body).toMatchObject({ connected: true, schemaVersion: t.ctx.tenantMigrations.latest });

    const logs = await t.call('GET', `/api/companies/${tenant.slug}/logs?limit=200`, { token: t.adminToken });
    const actions = logs.body.items.map((l: { action: string; status: string }) => `${l.action}:${l.status}`);
    expect(actions).toEqual(
      expect.arrayContaining([
        'moved:ok',
        'move.role:ok',
        'move.database:ok',
        'move.hold:ok',
        'move.lock:ok',
        'move.copy:ok',
        'move.verify:ok',
        'move.switch:ok',
        'move.drop_old:ok',
      ]),
    );
    expect(await reconcile(t.ctx, { fix: false, actor: 'test' })).toEqual([]);
  });

  it('holds writes with 503 and Retry-After during the copy while reads and logins answer, and a write that missed the hold never lands', async () => {
    const names = tenantNames(t.config.dbPrefix, tenant);
    const stale = (await findCompany(t.ctx, tenant.slug))!;
    const during: Record<string, { status: number; retryAfter?: string | null }> = {};
    let missedHold: Promise<unknown> | undefined;
    t.ctx.beforeMoveStep = async (step, detail) => {
      if (step !== 'copy' || detail) return;
      const write = await t.call('POST', '/api/documents', { token: tenant.token, body: { title: 'during', content: 'held' } });
      during.write = { status: write.status, retryAfter: write.headers.get('retry-after') };
      during.read = { status: (await t.call('GET', '/api/documents', { token: tenant.token })).status };
      during.login = {
        status: (
          await t.call('POST', '/api/auth/login', {
            token: null,
            body: { email: `boss@${tenant.slug}.test`, password: PASSWORD, company: tenant.slug },
          })
        ).status,
      };
      // An instance that has not heard of the hold writes straight to the old database: it waits on the lock.
      const url = new URL(secondUrl);
      url.pathname = `/${names.database}`;
      url.username = stale.roleName!;
      url.password = t.ctx.box.open(stale.credentialsEncrypted!, sealedAt.companyCredentials(stale.id));
      const client = postgres(url.toString(), { max: 1, onnotice: () => {} });
      missedHold = client`insert into documents (title, content) values ('missed the hold', 'must not land')`.finally(() =>
        client.end({ timeout: 1 }),
      );
      missedHold.catch(() => {});
      await sleep(200);
    };
    try {
      const moved = await move(tenant.slug, defaultId);
      expect(moved.status, moved.text).toBe(200);
      expect(moved.body.serverId).toBe(defaultId);
    } finally {
      t.ctx.beforeMoveStep = undefined;
    }
    expect(during.write!.status).toBe(503);
    expect(Number(during.write!.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(during.read!.status).toBe(200);
    expect(during.login!.status).toBe(200);
    await expect(missedHold).rejects.toThrow();
    const titles = await withAdmin(
      'default',
      names.database,
      (sql) => sql`select title from documents where title in ('missed the hold', 'during')`,
    );
    expect(titles).toEqual([]);
    expect(
      (await t.call('POST', '/api/documents', { token: tenant.token, body: { title: 'after', content: 'writes resumed' } })).status,
    ).toBe(201);
  });

  const steps: MoveStep[] = ['role', 'database', 'revoke', 'ownership', 'hold', 'lock', 'copy', 'verify', 'switch'];
  it.each(steps)('that fails at step "%s" leaves the company working on its old server and nothing on the target', async (failAt) => {
    const names = tenantNames(t.config.dbPrefix, tenant);
    const before = await contents('default', names.database);
    const onSecond = await databasesOn('second');
    t.ctx.beforeMoveStep = (step, detail) => {
      if (step === failAt && (step !== 'copy' || detail?.table === 'documents')) throw new Error(`injected failure at ${step}`);
    };
    try {
      const res = await move(tenant.slug, secondId);
      expect(res.status, res.text).toBe(500);
      expect(res.body.error).toMatchObject({ code: 'internal', details: { step: failAt, error: `injected failure at ${failAt}` } });
    } finally {
      t.ctx.beforeMoveStep = undefined;
    }
    expect(await databasesOn('second')).toEqual(onSecond);
    expect(await contents('default', names.database)).toEqual(before);
    const row = (await findCompany(t.ctx, tenant.slug))!;
    expect(row).toMatchObject({ serverId: defaultId, movingTo: null, writesHeldUntil: null });
    const written = await t.call('POST', '/api/documents', {
      token: tenant.token,
      body: { title: `after ${failAt}`, content: 'still here' },
    });
    expect(written.status, written.text).toBe(201);
    const logs = await t.call('GET', `/api/companies/${tenant.slug}/logs`, { token: t.adminToken });
    expect(logs.body.items[0]).toMatchObject({
      action: 'moved',
      status: 'failed',
      error: expect.stringContaining(`injected failure at ${failAt}`),
    });
    expect(await reconcile(t.ctx, { fix: false, actor: 'test' })).toEqual([]);
  });

  it('that loses its target server during the copy answers 503, keeps the company on its old server, and reconcile clears the target', async () => {
    const names = tenantNames(t.config.dbPrefix, tenant);
    const before = await contents('default', names.database);
    t.ctx.beforeMoveStep = async (step, detail) => {
      if (step === 'copy' && detail?.table === 'documents') await second!.stop();
    };
    let res: Awaited<ReturnType<typeof move>>;
    try {
      res = await move(tenant.slug, secondId);
    } finally {
      t.ctx.beforeMoveStep = undefined;
    }
    expect(res.status, res.text).toBe(503);
    expect(res.body.error).toMatchObject({ code: 'unavailable', details: { step: 'copy' } });
    expect(await contents('default', names.database)).toEqual(before);
    expect((await t.call('POST', '/api/documents', { token: tenant.token, body: { title: 'target gone', content: 'fine' } })).status).toBe(
      201,
    );

    // Back up: the half-made database is still there, recorded; reconcile drops it.
    second = await startEmbeddedPostgres(secondDir);
    await waitFor(
      async () =>
        (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items.find((s: { id: string }) => s.id === secondId).reachable,
    );
    expect(await databasesOn('second')).toEqual(expect.arrayContaining(namesOf(tenant)));
    const found = await reconcile(t.ctx, { fix: false, actor: 'test' });
    expect(found).toEqual([expect.objectContaining({ kind: 'move_leftover', serverId: secondId, name: names.database, fixed: false })]);
    const fixed = await reconcile(t.ctx, { fix: true, actor: 'test' });
    expect(fixed).toEqual([expect.objectContaining({ kind: 'move_leftover', fixed: true })]);
    expect((await databasesOn('second')).filter((n) => namesOf(tenant).includes(n))).toEqual([]);
    expect(await reconcile(t.ctx, { fix: false, actor: 'test' })).toEqual([]);
  });

  // The target goes while the biggest table streams: the old database's session was sending COPY
  // data to a client that stopped reading, and must not stay behind holding the tables' lock.
  it('that loses its target server while a table streams leaves the old database writable at once', async () => {
    const big = await createTenant('big-mover', defaultId);
    await withAdmin(
      'default',
      tenantNames(t.config.dbPrefix, big).database,
      (sql) =>
        sql`insert into documents (title, content) select 'd' || i, repeat('lorem ipsum dolor ' || i, 50) from generate_series(1, 30000) i`,
    );
    let stopping: Promise<void> | undefined;
    t.ctx.beforeMoveStep = (step, detail) => {
      if (step === 'copy' && detail?.table === 'documents') stopping = second!.stop();
    };
    let res: Awaited<ReturnType<typeof move>>;
    try {
      res = await move(big.slug, secondId);
    } finally {
      t.ctx.beforeMoveStep = undefined;
      await stopping;
    }
    expect(res.status, res.text).toBe(503);
    expect(res.body.error.details).toMatchObject({ step: 'copy' });
    const started = performance.now();
    const written = await t.call('POST', '/api/documents', { token: big.token, body: { title: 'right after', content: 'not blocked' } });
    expect(written.status, written.text).toBe(201);
    expect(performance.now() - started).toBeLessThan(2000);

    second = await startEmbeddedPostgres(secondDir);
    await waitFor(
      async () =>
        (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items.find((s: { id: string }) => s.id === secondId).reachable,
    );
    const fixed = await reconcile(t.ctx, { fix: true, actor: 'test' });
    expect(fixed).toEqual([
      expect.objectContaining({ kind: 'move_leftover', name: tenantNames(t.config.dbPrefix, big).database, fixed: true }),
    ]);
    expect((await databasesOn('second')).filter((n) => namesOf(big).includes(n))).toEqual([]);
  });

  it('that cannot drop the old database after the switch still succeeds, and reconcile drops it', async () => {
    const names = tenantNames(t.config.dbPrefix, tenant);
    t.ctx.beforeMoveStep = (step) => {
      if (step === 'drop_old') throw new Error('injected failure at drop_old');
    };
    try {
      const moved = await move(tenant.slug, secondId);
      expect(moved.status, moved.text).toBe(200);
      expect(moved.body.move.oldDatabaseDropped).toBe(false);
    } finally {
      t.ctx.beforeMoveStep = undefined;
    }
    expect(await databasesOn('default')).toEqual(expect.arrayContaining([names.database]));
    expect((await t.call('GET', '/api/documents', { token: tenant.token })).status).toBe(200);
    const fixed = await reconcile(t.ctx, { fix: true, actor: 'test' });
    expect(fixed).toEqual([expect.objectContaining({ kind: 'move_leftover', serverId: defaultId, name: names.database, fixed: true })]);
    expect((await databasesOn('default')).filter((n) => namesOf(tenant).includes(n))).toEqual([]);
    expect((await t.call('GET', '/api/documents', { token: tenant.token })).status).toBe(200);
  });

  it('whose mover died lets its hold lapse, and reconcile clears the claim', async () => {
    const before = (await findCompany(t.ctx, tenant.slug))!;
    const lapsed = dsql`now() - interval '1 minute'`;
    await t.ctx.db
      .update(companies)
      .set({ movingTo: defaultId, moveLeaseUntil: lapsed, writesHeldUntil: lapsed })
      .where(eq(companies.id, tenant.id));
    await t.ctx.tenants.companyChanged(tenant.id);
    expect(
      (await t.call('POST', '/api/documents', { token: tenant.token, body: { title: 'lapsed', content: 'hold is over' } })).status,
    ).toBe(201);
    expect(await reconcile(t.ctx, { fix: false, actor: 'test' })).toEqual([
      expect.objectContaining({ kind: 'interrupted_move', name: tenant.slug, serverId: defaultId, fixed: false }),
    ]);
    expect(await reconcile(t.ctx, { fix: true, actor: 'test' })).toEqual([
      expect.objectContaining({ kind: 'interrupted_move', fixed: true }),
    ]);
    expect(await findCompany(t.ctx, tenant.slug)).toMatchObject({
      serverId: before.serverId,
      movingTo: null,
      moveLeaseUntil: null,
      writesHeldUntil: null,
    });
    expect(await reconcile(t.ctx, { fix: false, actor: 'test' })).toEqual([]);
  });

  it('is refused for a bad target, a bad body, another role and an unknown company', async () => {
    expect((await move(tenant.slug, secondId)).body.error.code).toBe('conflict');
    expect((await move(tenant.slug, '00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await move('no-such-company', defaultId)).status).toBe(404);
    expect((await t.call('POST', `/api/companies/${tenant.slug}/move`, { token: t.adminToken, body: { serverId: 'second' } })).status).toBe(
      400,
    );
    expect(
      (await t.call('POST', `/api/companies/${tenant.slug}/move`, { token: tenant.token, body: { serverId: defaultId } })).status,
    ).toBe(403);

    expect((await t.call('PATCH', `/api/servers/${defaultId}`, { token: t.adminToken, body: { status: 'draining' } })).status).toBe(200);
    const draining = await move(tenant.slug, defaultId);
    expect(draining.status).toBe(409);
    expect(draining.body.error.message).toContain('draining');
    const used = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items.find(
      (s: { id: string }) => s.id === defaultId,
    ).companies;
    expect(
      (await t.call('PATCH', `/api/servers/${defaultId}`, { token: t.adminToken, body: { status: 'active', capacity: used + 1 } })).status,
    ).toBe(200);
    await createTenant('filler', defaultId);
    const full = await move(tenant.slug, defaultId);
    expect(full.status).toBe(409);
    expect(full.body.error.message).toContain('no room');
    expect((await t.call('PATCH', `/api/servers/${defaultId}`, { token: t.adminToken, body: { capacity: 500 } })).status).toBe(200);
    expect((await findCompany(t.ctx, tenant.slug))!.serverId).toBe(secondId);
  });

  it('runs from the CLI: silo companies move --to', async () => {
    const moved = await cli('companies', 'move', tenant.slug, '--to', defaultId, '--json');
    expect(moved.code, moved.stderr).toBe(0);
    expect(JSON.parse(moved.stdout)).toMatchObject({
      slug: tenant.slug,
      serverId: defaultId,
      move: { toServerId: defaultId, oldDatabaseDropped: true },
    });
    // This instance heard of it through NOTIFY: the next request goes to the default server.
    expect(
      (await t.call('POST', '/api/documents', { token: tenant.token, body: { title: 'cli', content: 'moved by the cli' } })).status,
    ).toBe(201);
    const again = await cli('companies', 'move', tenant.slug, '--to', defaultId);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already on that database server');
  });
});

describe('draining a server', () => {
  it('moves every company off it, with a summary, and exits 0 only when it is empty', async () => {
    const tenants = await Promise.all(['drain-a', 'drain-b', 'drain-c'].map((slug) => createTenant(slug, defaultId)));
    await seed(tenants[0]!);
    const onDefault = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items.find(
      (s: { id: string }) => s.id === defaultId,
    ).companies;
    expect(onDefault).toBeGreaterThanOrEqual(4);

    const drained = await cli('servers', 'drain', defaultId, '--concurrency', '2', '--json');
    expect(drained.code, drained.stderr).toBe(0);
    const run = JSON.parse(drained.stdout);
    expect(run).toMatchObject({ serverId: defaultId, total: onDefault, remaining: 0, notAttempted: [] });
    expect(run.outcomes.filter((o: { status: string }) => o.status !== 'moved')).toEqual([]);
    const servers = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items;
    expect(servers.find((s: { id: string }) => s.id === defaultId)).toMatchObject({ status: 'draining', companies: 0 });
    expect(await databasesOn('default')).toEqual([]);
    for (const tenant of tenants) {
      expect((await t.call('GET', '/api/users', { token: tenant.token })).status).toBe(200);
      expect((await findCompany(t.ctx, tenant.slug))!.serverId).toBe(secondId);
    }

    // A table for people; nothing left, so exit 0 again.
    const again = await cli('servers', 'drain', defaultId);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^COMPANIES\s+MOVED\s+FAILED/m);
    expect((await t.call('PATCH', `/api/servers/${defaultId}`, { token: t.adminToken, body: { status: 'active' } })).status).toBe(200);
  });

  it('exits 1 when a company cannot move anywhere', async () => {
    const stuck = await createTenant('drain-stuck', defaultId);
    const servers = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items;
    const onSecond = servers.find((s: { id: string }) => s.id === secondId).companies;
    expect((await t.call('PATCH', `/api/servers/${secondId}`, { token: t.adminToken, body: { capacity: onSecond } })).status).toBe(200);
    try {
      const drained = await cli('servers', 'drain', defaultId);
      expect(drained.code).toBe(1);
      expect(drained.stderr).toContain(`failed: ${stuck.slug}`);
      expect(drained.stderr).toContain('1 company is still on the server');
      expect((await findCompany(t.ctx, stuck.slug))!.serverId).toBe(defaultId);
      expect(
        (
          await t.call('POST', '/api/users', {
            token: stuck.token,
            body: { email: 'x@stuck.test', role: 'member', password: 'member-password' },
          })
        ).status,
      ).toBe(201);
    } finally {
      await t.call('PATCH', `/api/servers/${secondId}`, { token: t.adminToken, body: { capacity: 500 } });
      await t.call('PATCH', `/api/servers/${defaultId}`, { token: t.adminToken, body: { status: 'active' } });
    }
  });
});

describe('placement over two servers', () => {
  it('spreads new companies by room left, never past capacity, and never onto a draining server', async () => {
    const count = async () => {
      const items = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items as { id: string; companies: number }[];
      return { default: items.find((s) => s.id === defaultId)!.companies, second: items.find((s) => s.id === secondId)!.companies };
    };
    const start = await count();
    // Room for three more on each.
    await t.call('PATCH', `/api/servers/${defaultId}`, { token: t.adminToken, body: { capacity: start.default + 3 } });
    await t.call('PATCH', `/api/servers/${secondId}`, { token: t.adminToken, body: { capacity: start.second + 3 } });
    try {
      for (let i = 0; i < 6; i++) {
        const created = await t.call('POST', '/api/companies', {
          token: t.adminToken,
          body: { name: `spread ${i}`, slug: `spread-${i}`, admin: { email: `a@spread${i}.test` } },
        });
        expect(created.status, created.text).toBe(201);
      }
      expect(await count()).toEqual({ default: start.default + 3, second: start.second + 3 });
      const full = await t.call('POST', '/api/companies', {
        token: t.adminToken,
        body: { name: 'one too many', slug: 'one-too-many', admin: { email: 'a@many.test' } },
      });
      expect(full.status).toBe(409);

      await t.call('PATCH', `/api/servers/${defaultId}`, {
        token: t.adminToken,
        body: { capacity: start.default + 10, status: 'draining' },
      });
      await t.call('PATCH', `/api/servers/${secondId}`, { token: t.adminToken, body: { capacity: start.second + 10 } });
      for (let i = 0; i < 2; i++) {
        const created = await t.call('POST', '/api/companies', {
          token: t.adminToken,
          body: { name: `drained ${i}`, slug: `drained-${i}`, admin: { email: `a@drained${i}.test` } },
        });
        expect(created.body.serverId).toBe(secondId);
      }
      const explicit = await t.call('POST', '/api/companies', {
        token: t.adminToken,
        body: { name: 'explicit', slug: 'explicit', serverId: defaultId, admin: { email: 'a@explicit.test' } },
      });
      expect(explicit.status).toBe(409);
    } finally {
      await t.call('PATCH', `/api/servers/${defaultId}`, { token: t.adminToken, body: { capacity: 500, status: 'active' } });
      await t.call('PATCH', `/api/servers/${secondId}`, { token: t.adminToken, body: { capacity: 500 } });
    }
  });
});

async function waitFor(check: () => Promise<boolean>, attempts = 40): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await sleep(250);
  }
  throw new Error('gave up waiting');
}
