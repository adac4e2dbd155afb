// The Neon provider end to end. Nothing can reach Neon from here, so Silo's real Neon clients talk
// to local stand-ins (test/neon-stand-in.test.ts checks them against the real clients):
// @neondatabase/api-client to an HTTP stand-in of the Neon API, and @neondatabase/serverless
// through a WebSocket-to-TCP proxy (SILO_NEON_WS_PROXY) to the local PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { companies } from '../src/control-plane/schema.ts';
import { migrateFleet } from '../src/operations/migrations/fleet.ts';
import { NeonApi } from '../src/providers/neon/api.ts';
import { neonProjectName } from '../src/providers/neon/servers.ts';
import { openAsCompany } from '../src/data-plane/company-database.ts';
import { reconcile } from '../src/operations/reconcile/reconcile.ts';
import { companyToken } from './support/company-login.ts';
import { startNeonStandIn, type NeonStandIn } from './support/neon-stand-in.ts';
import { copyTenantMigrations, type MigrationFolder } from './support/migration-folder.ts';
import { createTestSilo, serverUrl, type TestSilo } from './support/test-silo.ts';
import { startWsProxy, type WsProxy } from './support/ws-proxy.ts';

let t: TestSilo;
let migrations: MigrationFolder;
let neon: NeonStandIn;
let proxy: WsProxy;
let neonServerId: string;
const PASSWORD = 'neon-admin-password';

async function createOnNeon(slug: string) {
  return t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: `Company ${slug}`, slug, admin: { email: `boss@${slug}.test`, password: PASSWORD }, serverId: neonServerId },
  });
}

const logIn = (slug: string) => companyToken(t, `boss@${slug}.test`, PASSWORD, slug);

beforeAll(async () => {
  neon = await startNeonStandIn({ adminUrl: serverUrl(), operationMs: 300 });
  proxy = await startWsProxy();
  migrations = copyTenantMigrations();
  t = await createTestSilo({ env: { SILO_NEON_WS_PROXY: proxy.wsProxy }, tenantMigrationsFolder: migrations.path });
});

afterAll(async () => {
  await t?.close();
  await neon?.close();
  await proxy?.close();
  migrations?.remove();
});

describe('neon servers', () => {
  it('refuses a key the Neon API refuses, and registers one it accepts without showing it', async () => {
    const refused = await t.call('POST', '/api/servers', {
      token: t.adminToken,
      body: { name: 'neon', provider: 'neon', url: neon.apiUrl, apiKey: 'not-the-key' },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toBe('the Neon API refused the API key');
    expect(refused.text).not.toContain('not-the-key');

    const missing = await t.call('POST', '/api/servers', {
      token: t.adminToken,
      body: { name: 'neon', provider: 'neon', url: neon.apiUrl },
    });
    expect(missing.status).toBe(400);

    const added = await t.call('POST', '/api/servers', {
      token: t.adminToken,
      body: { name: 'neon', provider: 'neon', url: neon.apiUrl, apiKey: neon.apiKey, capacity: 50, neon: { regionId: 'aws-us-east-2' } },
    });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({
      name: 'neon',
      provider: 'neon',
      host: new URL(neon.apiUrl).host,
      templateVersion: null,
      companies: 0,
    });
    neonServerId = added.body.id;

    const listed = await t.call('GET', '/api/servers', { token: t.adminToken });
    expect(listed.body.items.find((s: { id: string }) => s.id === neonServerId)).toMatchObject({ reachable: true });
    for (const text of [added.text, listed.text, ...t.logs]) expect(text).not.toContain(neon.apiKey);
  });
});

describe('neon companies', () => {
  it('get a Neon project of their own, waited for, and are served through the serverless driver', async () => {
    const before = neon.projects().length;
    const res = await createOnNeon('neon-one');
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      provider: 'neon',
      status: 'active',
      serverId: neonServerId,
      schemaVersion: t.ctx.tenantMigrations.latest,
    });
    const project = neon.projects().find((p) => p.name.endsWith('-neon-one'));
    expect(neon.projects()).toHaveLength(before + 1);
    expect(project).toBeDefined();
    expect(res.body.database).toBe(project!.databaseName);
    // Silo asked about the project's operations until they had finished.
    expect(neon.requests.some((r) => r.method === 'GET' && /\/operations\//.test(r.path))).toBe(true);

    const through = proxy.connectionsOpened();
    const token = await logIn('neon-one');
    const doc = await t.call('POST', '/api/documents', { token, body: { title: 'Serverless', content: 'over a websocket to postgres' } });
    expect(doc.status).toBe(201);
    const found = await t.call('GET', '/api/documents?q=websocket', { token });
    expect(found.body.items.map((d: { title: string }) => d.title)).toEqual(['Serverless']);
    // A transaction with an advisory lock (the user limit) through the same driver.
    const member = await t.call('POST', '/api/users', {
      token,
      body: { email: 'member@neon-one.test', role: 'member', password: 'member-password' },
    });
    expect(member.status).toBe(201);
    const health = await t.call('GET', '/api/health/tenant', { token });
    expect(health.body).toMatchObject({ database: project!.databaseName, connected: true });
    expect(proxy.connectionsOpened()).toBeGreaterThan(through);

    const tested = await t.call('GET', '/api/companies/neon-one/database/test', { token: t.adminToken });
    expect(tested.body).toMatchObject({ ok: true, pendingMigrations: 0 });
  });

  it('are created through rate limits and locks, which are waited out', async () => {
    neon.failNext(2, 429);
    const res = await createOnNeon('neon-limited');
    expect(res.status).toBe(201);
    const answers = neon.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/projects')).map((r) => r.status);
    expect(answers.slice(-3)).toEqual([429, 429, 201]);

    neon.failNext(1, 423);
    expect((await createOnNeon('neon-locked')).status).toBe(201);
    const locked = neon.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/projects')).map((r) => r.status);
    expect(locked.slice(-2)).toEqual([423, 201]);
  });

  it('leave no project behind when provisioning fails after Neon made one', async () => {
    const before = neon.projects().length;
    t.ctx.beforeProvisionStep = (step) => {
      if (step === 'first_admin') throw new Error('injected failure after the project was made');
    };
    try {
      const res = await createOnNeon('neon-broken');
      expect(res.status).toBe(500);
    } finally {
      t.ctx.beforeProvisionStep = undefined;
    }
    expect(neon.projects()).toHaveLength(before);
    const shown = await t.call('GET', '/api/companies/neon-broken', { token: t.adminToken });
    expect(shown.body).toMatchObject({ status: 'failed', lastError: expect.stringContaining('first_admin') });
    // Creating it again retries, and works.
    expect((await createOnNeon('neon-broken')).status).toBe(201);
  });

  it('are placed on the neon server automatically when it has the most room, and not once it drains', async () => {
    await t.call('PATCH', `/api/servers/${neonServerId}`, { token: t.adminToken, body: { capacity: 100_000 } });
    const auto = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Auto', slug: 'neon-auto', admin: { email: 'a@auto.test', password: PASSWORD } },
    });
    expect(auto.body).toMatchObject({ provider: 'neon', serverId: neonServerId });
    await t.call('PATCH', `/api/servers/${neonServerId}`, { token: t.adminToken, body: { status: 'draining' } });
    const after = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'After', slug: 'neon-after', admin: { email: 'a@after.test', password: PASSWORD } },
    });
    expect(after.body.provider).toBe('postgres');
    await t.call('PATCH', `/api/servers/${neonServerId}`, { token: t.adminToken, body: { status: 'active', capacity: 50 } });
  });

  it('are upgraded by fleet runs and on their first request after a deploy, are not moved, and lose their project when deleted', async () => {
    t.ctx.tenantMigrations = migrations.add('0001_neon_note', 'alter table documents add column neon_note text;');
    const run = await migrateFleet(t.ctx, { concurrency: 2, actor: 'test', only: ['neon-one'] });
    expect(run.results.map((r) => [r.slug, r.status, r.version])).toEqual([['neon-one', 'migrated', '0001_neon_note']]);
    const direct = async (slug: string) => {
      const company = (await t.ctx.tenants.company((await t.call('GET', `/api/companies/${slug}`, { token: t.adminToken })).body.id))!;
      const sql = await openAsCompany(t.ctx, company);
      try {
        return (await sql`select column_name from information_schema.columns where table_name = 'documents' and column_name = 'neon_note'`)
          .length;
      } finally {
        await sql.end();
      }
    };
    expect(await direct('neon-one')).toBe(1);
    // neon-limited was left behind by that run: its first request brings it up to date.
    expect(await direct('neon-limited')).toBe(0);
    const token = await logIn('neon-limited');
    expect((await t.call('GET', '/api/documents', { token })).status).toBe(200);
    expect(await direct('neon-limited')).toBe(1);
    expect((await t.call('GET', '/api/companies/neon-limited', { token: t.adminToken })).body.schemaVersion).toBe('0001_neon_note');

    const servers = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items as { id: string; provider: string }[];
    const postgresServer = servers.find((s) => s.provider === 'postgres')!;
    const move = await t.call('POST', '/api/companies/neon-one/move', { token: t.adminToken, body: { serverId: postgresServer.id } });
    expect(move.status).toBe(409);

    const project = neon.projects().find((p) => p.name.endsWith('-neon-one'))!;
    neon.failNext(1, 423);
    const deleted = await t.call('DELETE', '/api/companies/neon-one', { token: t.adminToken, headers: { 'x-confirm': 'neon-one' } });
    expect(deleted.status).toBe(200);
    expect(neon.projects().map((p) => p.id)).not.toContain(project.id);
    const [gone] = await t.admin<{ n: number }[]>`select count(*)::int as n from pg_database where datname = ${project.databaseName}`;
    expect(gone!.n).toBe(0);
  });

  it('have projects that a dead or failed create left behind deleted by reconcile, with or without their id', async () => {
    const api = new NeonApi(neon.apiUrl, neon.apiKey);
    const leftover = async (slug: string) =>
      api.createProject(
        neonProjectName(t.ctx, slug),
        { database: `db_${slug.replace(/-/g, '_')}`, role: `r_${slug.replace(/-/g, '_')}` },
        {},
        async () => {},
      );
    const longAgo = new Date(Date.now() - 60 * 60_000);
    const row = { serverId: neonServerId, provider: 'neon' as const, updatedAt: longAgo };
    // A process that died after Neon answered (the id recorded), one that died before the answer
    // arrived (only the name known), and a failed create whose undo could not delete its project.
    const recorded = await leftover('neon-dead-recorded');
    const unrecorded = await leftover('neon-dead-unrecorded');
    const failed = await leftover('neon-failed-undo');
    await t.ctx.db.insert(companies).values([
      { slug: 'neon-dead-recorded', name: 'A', status: 'provisioning', providerRef: recorded.projectId, ...row },
      { slug: 'neon-dead-unrecorded', name: 'B', status: 'provisioning', ...row },
      { slug: 'neon-failed-undo', name: 'C', status: 'failed', providerRef: failed.projectId, ...row },
    ]);
    const report = await reconcile(t.ctx, { fix: false, actor: 'test' });
    expect(report.map((f) => [f.kind, f.name]).filter(([, name]) => String(name).startsWith('neon-'))).toEqual(
      expect.arrayContaining([
        ['stuck_provisioning', 'neon-dead-recorded'],
        ['stuck_provisioning', 'neon-dead-unrecorded'],
        ['failed_neon_project', 'neon-failed-undo'],
      ]),
    );
    const fixed = await reconcile(t.ctx, { fix: true, actor: 'test' });
    expect(fixed.filter((f) => String(f.name).startsWith('neon-')).every((f) => f.fixed)).toBe(true);
    const ids = neon.projects().map((p) => p.id);
    for (const project of [recorded, unrecorded, failed]) expect(ids).not.toContain(project.projectId);
    expect((await reconcile(t.ctx, { fix: false, actor: 'test' })).filter((f) => String(f.name).startsWith('neon-'))).toEqual([]);
  });

  it('delete the project an earlier failed attempt left before a retry makes a new one', async () => {
    const api = new NeonApi(neon.apiUrl, neon.apiKey);
    const old = await api.createProject(
      neonProjectName(t.ctx, 'neon-retry'),
      { database: 'db_retry_old', role: 'r_retry_old' },
      {},
      async () => {},
    );
    await t.ctx.db.insert(companies).values({
      slug: 'neon-retry',
      name: 'Retry',
      status: 'failed',
      serverId: neonServerId,
      provider: 'neon',
      providerRef: old.projectId,
    });
    expect((await createOnNeon('neon-retry')).status).toBe(201);
    const named = neon.projects().filter((p) => p.name === neonProjectName(t.ctx, 'neon-retry'));
    expect(named).toHaveLength(1);
    expect(named[0]!.id).not.toBe(old.projectId);
  });

  it('answer 503 when their compute cannot be reached, and recover when it can', async () => {
    expect((await createOnNeon('neon-down')).status).toBe(201);
    const token = await logIn('neon-down');
    const company = await t.call('GET', '/api/companies/neon-down', { token: t.adminToken });
    await proxy.close();
    t.ctx.tenants.forget(company.body.id);
    const down = await t.call('GET', '/api/documents', { token });
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('unavailable');
    // The driver reads neonConfig.wsProxy when it connects: a proxy back at another port is found.
    proxy = await startWsProxy();
    const { neonConfig } = await import('@neondatabase/serverless');
    neonConfig.wsProxy = proxy.wsProxy;
    t.ctx.tenants.forget(company.body.id);
    expect((await t.call('GET', '/api/documents', { token })).status).toBe(200);
  });

  it('run read-only SQL and fleet queries through the serverless driver, as other companies do', async () => {
    expect((await createOnNeon('neon-sql')).status).toBe(201);
    const token = await logIn('neon-sql');
    expect((await t.call('POST', '/api/documents', { token, body: { title: 'Counted', content: 'one row' } })).status).toBe(201);

    const counted = await t.call('POST', '/api/sql', {
      token,
      body: { sql: 'select count(*)::int as n from documents where title = $1', params: ['Counted'] },
    });
    expect(counted.status).toBe(200);
    expect(counted.body).toMatchObject({ columns: [{ name: 'n' }], rows: [[1]], rowCount: 1, truncated: false });
    const capped = await t.call('POST', '/api/sql', { token, body: { sql: 'select generate_series(1, 500)', maxRows: 10 } });
    expect(capped.body).toMatchObject({ rowCount: 10, truncated: true });

    const fleet = await t.call('POST', '/api/fleet/query', {
      token: t.adminToken,
      body: { sql: 'select count(*)::int as n from documents', only: ['neon-sql'] },
    });
    expect(fleet.status).toBe(200);
    const lines = fleet.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([
      expect.objectContaining({ company: expect.objectContaining({ slug: 'neon-sql' }), ok: true, rows: [[1]] }),
      { summary: expect.objectContaining({ companies: 1, succeeded: 1, failed: 0 }) },
    ]);
  });

  // node-postgres, inside the serverless driver, sends no Sync after the server refuses a query run
  // with `rows` (its issue 3707): without Silo's own Sync the connection waited for ever, the
  // console's history write failed, and the company's next request hung.
  it('answer refused statements in the SQL console and fleet queries with their SQLSTATE, and keep serving', async () => {
    expect((await createOnNeon('neon-refused')).status).toBe(201);
    const token = await logIn('neon-refused');
    const refused = [
      { sql: 'delete from documents', sqlState: '25006' },
      { sql: 'selec 1', sqlState: '42601' },
      // Refused after some rows have come: the portal is part-read when the error arrives.
      { sql: 'select 10 / (5 - i) as v from generate_series(1, 7) g(i)', sqlState: '22012', maxRows: 2 },
      { sql: 'select 1; delete from documents', sqlState: '42601' },
    ];
    for (const { sql, sqlState, maxRows } of refused) {
      const answer = await t.call('POST', '/api/sql', { token, body: { sql, maxRows } });
      expect(answer.status, sql).toBe(400);
      expect(answer.body.error.details, sql).toEqual({ sqlState });
      const next = await t.call('POST', '/api/sql', { token, body: { sql: 'select count(*)::int as n from documents' } });
      expect(next.status, `after ${sql}`).toBe(200);
    }
    const history = await t.call('GET', '/api/sql/history', { token });
    expect(history.body.items.filter((run: { ok: boolean }) => !run.ok)).toHaveLength(refused.length);

    const fleet = async (sql: string) =>
      (await t.call('POST', '/api/fleet/query', { token: t.adminToken, body: { sql, only: ['neon-refused'] } })).text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
    expect((await fleet('select 1 / 0'))[0]).toMatchObject({ ok: false, error: { sqlState: '22012' } });
    expect((await fleet('select 1 as n'))[0]).toMatchObject({ ok: true, rows: [[1]] });
    expect((await t.call('GET', '/api/documents', { token })).status).toBe(200);
  });

  it('never show the API key or a project password in a response or a log line', async () => {
    const shown = await t.call('GET', '/api/companies?q=neon', { token: t.adminToken });
    // The stand-in makes passwords the way Neon does: npg_ and random characters.
    for (const text of [shown.text, ...t.logs]) {
      expect(text).not.toContain(neon.apiKey);
      expect(text).not.toMatch(/npg_[A-Za-z0-9]+/);
    }
  });
});
