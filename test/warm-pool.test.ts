// The warm pool against a real PostgreSQL: what a warm database is (no company can reach it), what a
// claim hands over (a company like any other), concurrent sign-ups never sharing one, a template
// change never handing out a stale one, reconcile cleaning what a crashed refill leaves, the
// refiller stopping cleanly, and a pool of 0 changing nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseServers, warmDatabases } from '../src/control-plane/schema.ts';
import { quoteIdent } from '../src/base/names.ts';
import { freePort, startEmbeddedPostgres } from '../src/base/embedded/embedded-postgres.ts';
import { sealedAt } from '../src/base/crypto/credentials.ts';
import { refillServer, newWarmName, cloneWarmDatabase } from '../src/operations/provisioning/warm-pool.ts';
import { startWarmRefiller } from '../src/operations/provisioning/warm-refiller.ts';
import { reconcile } from '../src/operations/reconcile/reconcile.ts';
import { removeServer } from '../src/operations/server-changes.ts';
import { addServer } from '../src/operations/servers.ts';
import { copyTenantMigrations } from './support/migration-folder.ts';
import { createTestSilo, namesOf, serverUrl, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
let serverId: string;
beforeAll(async () => {
  t = await createTestSilo({ env: { SILO_WARM_POOL: '3' } });
  [{ id: serverId }] = (await t.ctx.db.select({ id: databaseServers.id }).from(databaseServers)) as [{ id: string }];
});
afterAll(async () => {
  await t?.close();
});

const warmRows = () => t.ctx.db.select().from(warmDatabases).where(eq(warmDatabases.serverId, serverId));

async function create(slug: string, password = `${slug}-password`) {
  return t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: slug, slug, admin: { email: `a@${slug}.test`, password } },
  });
}

/** How the company's database was made, from its `created` audit row. */
async function madeVia(slug: string): Promise<string> {
  const logs = await t.call('GET', `/api/companies/${slug}/logs`, { token: t.adminToken });
  return logs.body.items.find((l: { action: string }) => l.action === 'created').details.via;
}

/** A company's own login, from the management database. */
async function loginOf(slug: string) {
  const row = (await t.ctx.db.query.companies.findFirst({
    where: (c, { eq: is, and, ne }) => and(is(c.slug, slug), ne(c.status, 'deleted')),
  }))!;
  return { user: row.roleName!, password: t.ctx.box.open(row.credentialsEncrypted!, sealedAt.companyCredentials(row.id)) };
}

async function connectAs(database: string, login: { user: string; password: string }) {
  const url = new URL(serverUrl(database));
  url.username = login.user;
  url.password = login.password;
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    const [row] = await sql<{ user: string; users: number }[]>`select current_user as user, (select count(*)::int from users) as users`;
    return row!;
  } finally {
    await sql.end();
  }
}

describe('a warm database', () => {
  it('is cloned at the latest version, owned by a NOLOGIN role, closed to PUBLIC and to every company', async () => {
    expect(await create('outsider')).toMatchObject({ status: 201 });
    const refill = await refillServer(t.ctx, serverId);
    expect(refill).toMatchObject({ ran: true, cloned: 3 });
    const rows = await warmRows();
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.status === 'ready' && r.templateVersion === t.ctx.tenantMigrations.latest)).toBe(true);

    for (const { name } of rows) {
      const [db] = await t.admin<{ owner: string; canLogin: boolean; publicConnect: boolean }[]>`
        select pg_get_userbyid(d.datdba) as owner, r.rolcanlogin as "canLogin",
               has_database_privilege('public', d.datname, 'connect') as "publicConnect"
        from pg_database d join pg_roles r on r.oid = d.datdba where d.datname = ${name}`;
      expect(db).toEqual({ owner: name, canLogin: false, publicConnect: false });
      // A company's role, with its right password, is refused by Postgres.
      await expect(connectAs(name, await loginOf('outsider'))).rejects.toMatchObject({ code: '42501' });
    }
  });

  it('is handed to a sign-up as a company like any other, and the pool refills', async () => {
    const before = (await warmRows()).map((r) => r.name);
    const res = await create('claimed');
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'active', schemaVersion: t.ctx.tenantMigrations.latest });
    expect(await madeVia('claimed')).toBe('warm');
    const after = (await warmRows()).map((r) => r.name);
    expect(after).toHaveLength(2);
    const gone = before.filter((n) => !after.includes(n));
    expect(gone).toHaveLength(1);
    const [leftover] = await t.admin`select 1 from pg_database where datname = ${gone[0]!}`;
    expect(leftover).toBeUndefined();

    const names = await namesOf(t, 'claimed');
    const login = await loginOf('claimed');
    expect(await connectAs(names.database, login)).toEqual({ user: names.role, users: 1 });
    // Every object in it is the company's; its role logs in and no other company's does.
    const owners = await t.admin.unsafe(`select 1`).then(async () => {
      const sql = postgres(serverUrl(names.database), { max: 1, onnotice: () => {} });
      try {
        return await sql<{ owner: string }[]>`
          select distinct pg_get_userbyid(c.relowner) as owner from pg_class c
          join pg_namespace n on n.oid = c.relnamespace where n.nspname in ('public', 'drizzle')`;
      } finally {
        await sql.end();
      }
    });
    expect(owners).toEqual([{ owner: names.role }]);
    await expect(connectAs(names.database, await loginOf('outsider'))).rejects.toMatchObject({ code: '42501' });
    const [role] = await t.admin<{ rolcanlogin: boolean; rolconnlimit: number }[]>`
      select rolcanlogin, rolconnlimit from pg_roles where rolname = ${names.role}`;
    expect(role).toEqual({ rolcanlogin: true, rolconnlimit: t.config.tenantConnectionLimit });
    const login2 = await t.call('POST', '/api/auth/login', {
      token: null,
      body: { email: 'a@claimed.test', password: 'claimed-password', company: 'claimed' },
    });
    expect(login2.status).toBe(200);

    expect(await refillServer(t.ctx, serverId)).toMatchObject({ cloned: 1 });
    expect(await warmRows()).toHaveLength(3);
  });

  it('is shown per server in the status and the metrics', async () => {
    const status = await t.call('GET', '/api/system/status', { token: t.adminToken });
    expect(status.body.servers.find((s: { id: string }) => s.id === serverId).warmPool).toEqual({
      ready: 3,
      cloning: 0,
      stale: 0,
      target: 3,
    });
    const metrics = await t.call('GET', '/metrics', { token: t.adminToken });
    expect(metrics.text).toContain(`silo_warm_pool_ready{server_id="${serverId}"} 3`);
    expect(metrics.text).toContain(`silo_warm_pool_stale{server_id="${serverId}"} 0`);
  });

  it('is removed by the undo of a saga that fails after the claim', async () => {
    t.ctx.beforeProvisionStep = (step) => {
      if (step === 'first_admin') throw new Error('injected failure after the claim');
    };
    try {
      expect((await create('undone')).status).toBe(500);
    } finally {
      t.ctx.beforeProvisionStep = undefined;
    }
    const names = await namesOf(t, 'undone');
    expect(await t.admin`select 1 from pg_database where datname = ${names.database}`).toHaveLength(0);
    expect(await t.admin`select 1 from pg_roles where rolname = ${names.role}`).toHaveLength(0);
    expect(await warmRows()).toHaveLength(2);
    expect(await reconcile(t.ctx, { fix: false, actor: 'test' })).toEqual([]);
  });
});

describe('concurrent sign-ups', () => {
  it('never get the same warm database, and those the pool cannot serve are cloned', async () => {
    await refillServer(t.ctx, serverId);
    const warmBefore = (await warmRows()).length;
    expect(warmBefore).toBe(3);
    const slugs = Array.from({ length: 18 }, (_, i) => `rush-${i}`);
    const answers = await Promise.all(slugs.map((slug) => create(slug)));
    expect(answers.map((a) => a.status)).toEqual(slugs.map(() => 201));
    const vias = await Promise.all(slugs.map(madeVia));
    expect(vias.filter((v) => v === 'warm')).toHaveLength(warmBefore);
    expect(vias.filter((v) => v === 'template')).toHaveLength(slugs.length - warmBefore);
    expect(await warmRows()).toHaveLength(0);

    // One database each, each reached by its own role only and holding its own first admin.
    const databases = await Promise.all(slugs.map(async (s) => (await namesOf(t, s)).database));
    const oids = await t.admin<{ oid: number }[]>`select oid from pg_database where datname in ${t.admin(databases)}`;
    expect(new Set(oids.map((o) => o.oid)).size).toBe(slugs.length);
    for (const slug of slugs) {
      const names = await namesOf(t, slug);
      expect(await connectAs(names.database, await loginOf(slug))).toEqual({ user: names.role, users: 1 });
    }
  });
});

describe('a template change', () => {
  it('never hands out a warm database behind the latest version; the next refill migrates them in place', async () => {
    await refillServer(t.ctx, serverId);
    const stale = (await warmRows()).map((r) => r.name).sort();
    expect(stale).toHaveLength(3);
    const folder = copyTenantMigrations();
    const previous = t.ctx.tenantMigrations;
    try {
      t.ctx.tenantMigrations = folder.add(
        '0099_warm_change',
        'ALTER TABLE "users" ADD COLUMN "nickname" text;\n--> statement-breakpoint\nCREATE TABLE "notes" ("id" serial PRIMARY KEY, "body" text);',
      );
      const res = await create('after-change');
      expect(res.status).toBe(201);
      expect(res.body.schemaVersion).toBe('0099_warm_change');
      expect(await madeVia('after-change')).toBe('template');
      const status = await t.call('GET', '/api/system/status', { token: t.adminToken });
      expect(status.body.servers.find((s: { id: string }) => s.id === serverId).warmPool).toMatchObject({ ready: 0, stale: 3 });

      const refill = await refillServer(t.ctx, serverId);
      expect(refill).toMatchObject({ migrated: 3, removed: 0, cloned: 0 });
      const migrated = await warmRows();
      expect(migrated.map((r) => r.name).sort()).toEqual(stale);
      expect(migrated.every((r) => r.templateVersion === '0099_warm_change')).toBe(true);
      // What the migration created belongs to each warm database's own role, not to the admin.
      for (const { name } of migrated) {
        const sql = postgres(serverUrl(name), { max: 1, onnotice: () => {} });
        try {
          const [notes] = await sql<{ owner: string }[]>`select tableowner as owner from pg_tables where tablename = 'notes'`;
          expect(notes).toEqual({ owner: name });
        } finally {
          await sql.end();
        }
      }

      expect(await create('with-change')).toMatchObject({ status: 201, body: { schemaVersion: '0099_warm_change' } });
      expect(await madeVia('with-change')).toBe('warm');
      const names = await namesOf(t, 'with-change');
      const login = await loginOf('with-change');
      const url = new URL(serverUrl(names.database));
      url.username = login.user;
      url.password = login.password;
      const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
      try {
        expect(await sql`select nickname from users`).toHaveLength(1);
        expect(await sql`insert into notes (body) values ('mine') returning id`).toHaveLength(1);
      } finally {
        await sql.end();
      }
    } finally {
      t.ctx.tenantMigrations = previous;
      folder.remove();
    }
  });
});

describe('reconcile and a refill that died', () => {
  it('reports healthy warm databases as nothing, and removes what a crash left', async () => {
    // Back to the real migrations: the pool is ahead of them, cannot be migrated, and is replaced.
    await refillServer(t.ctx, serverId);
    expect(await reconcile(t.ctx, { fix: false, actor: 'test' })).toEqual([]);

    // A refill killed after its row and its CREATE DATABASE: a `cloning` row and a whole database.
    const crashed = newWarmName(t.config.dbPrefix);
    await t.ctx.db.insert(warmDatabases).values({ serverId, name: crashed });
    await t.admin.unsafe(`create role ${quoteIdent(crashed)} nologin`);
    await t.admin.unsafe(`create database ${quoteIdent(crashed)} owner ${quoteIdent(crashed)}`);
    // One killed after CREATE ROLE, whose row a lost connection never wrote: a bare role.
    const bare = newWarmName(t.config.dbPrefix);
    await t.admin.unsafe(`create role ${quoteIdent(bare)} nologin`);

    const found = await reconcile(t.ctx, { fix: false, actor: 'test' });
    expect(found.map((f) => [f.kind, f.name]).sort()).toEqual(
      [
        ['broken_warm_database', crashed],
        ['broken_warm_database', bare],
      ].sort(),
    );
    const fixed = await reconcile(t.ctx, { fix: true, actor: 'test' });
    expect(fixed.every((f) => f.fixed)).toBe(true);
    expect(await reconcile(t.ctx, { fix: false, actor: 'test' })).toEqual([]);
    expect(await t.admin`select 1 from pg_roles where rolname in ${t.admin([crashed, bare])}`).toHaveLength(0);
    expect(await t.admin`select 1 from pg_database where datname = ${crashed}`).toHaveLength(0);
    expect((await warmRows()).map((r) => r.status)).toEqual(['ready', 'ready', 'ready']);
  });

  it('a refill itself removes a crashed clone before filling', async () => {
    const crashed = newWarmName(t.config.dbPrefix);
    await t.ctx.db.insert(warmDatabases).values({ serverId, name: crashed });
    await t.admin.unsafe(`create role ${quoteIdent(crashed)} nologin`);
    const rows = await warmRows();
    await t.ctx.db.delete(warmDatabases).where(eq(warmDatabases.id, rows.find((r) => r.status === 'ready')!.id));
    expect(await refillServer(t.ctx, serverId)).toMatchObject({ removed: 1, cloned: 1 });
    expect(await t.admin`select 1 from pg_roles where rolname = ${crashed}`).toHaveLength(0);
    // The ready row deleted by hand left its database: that one is reconcile's.
    const found = await reconcile(t.ctx, { fix: true, actor: 'test' });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ kind: 'broken_warm_database', fixed: true });
  });
});

describe('the background refiller', () => {
  it('fills the pool after a claim and stops without leaving a half-made clone', async () => {
    const refiller = startWarmRefiller(t.ctx);
    await refiller.idle();
    expect(await warmRows()).toHaveLength(3);
    t.ctx.warmPool = refiller;
    try {
      expect(await create('kicked')).toMatchObject({ status: 201 });
      expect(await madeVia('kicked')).toBe('warm');
      await refiller.idle();
      expect(await warmRows()).toHaveLength(3);

      // Stopped while it clones: the clone under way completes, no other starts.
      await t.ctx.db.delete(warmDatabases).where(eq(warmDatabases.serverId, serverId));
      refiller.kick();
      await new Promise((resolve) => setTimeout(resolve, 20));
      await refiller.stop();
      const rows = await warmRows();
      expect(rows.every((r) => r.status === 'ready')).toBe(true);
      expect(rows.length).toBeLessThan(3);
    } finally {
      t.ctx.warmPool = undefined;
      await refiller.stop();
    }
    // The rows deleted by hand above left their databases behind: reconcile removes them.
    await reconcile(t.ctx, { fix: true, actor: 'test' });
    expect(await reconcile(t.ctx, { fix: false, actor: 'test' })).toEqual([]);
  });
});

describe('removing a server', () => {
  it('drops its warm databases first: they never keep a server', async () => {
    // A cluster of its own: one cluster is registered once, and the suite's is the default server.
    const dir = mkdtempSync(join(tmpdir(), 'silo-warm-second-'));
    const cluster = await startEmbeddedPostgres(dir, { port: await freePort() });
    try {
      const second = await addServer(t.ctx, { name: 'warm-second', url: cluster.url });
      expect(await refillServer(t.ctx, second.id)).toMatchObject({ cloned: 3 });
      const names = (await t.ctx.db.select().from(warmDatabases).where(eq(warmDatabases.serverId, second.id))).map((r) => r.name);
      expect(names).toHaveLength(3);
      await removeServer(t.ctx, second.id);
      expect(await t.ctx.db.select().from(warmDatabases).where(eq(warmDatabases.serverId, second.id))).toEqual([]);
      const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
      try {
        expect(await admin`select 1 from pg_database where datname in ${admin(names)}`).toHaveLength(0);
        expect(await admin`select 1 from pg_roles where rolname in ${admin(names)}`).toHaveLength(0);
      } finally {
        await admin.end();
      }
    } finally {
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a pool of 0', () => {
  it('clones nothing ahead and creates companies from the template as before', async () => {
    const off = await createTestSilo({ env: { SILO_WARM_POOL: '0' } });
    try {
      const [{ id }] = (await off.ctx.db.select({ id: databaseServers.id }).from(databaseServers)) as [{ id: string }];
      expect(await refillServer(off.ctx, id)).toMatchObject({ cloned: 0 });
      // Even a warm database left by an earlier setting is not claimed.
      await cloneWarmDatabase(off.ctx, id);
      const res = await off.call('POST', '/api/companies', {
        token: off.adminToken,
        body: { name: 'Plain', slug: 'plain', admin: { email: 'p@plain.test' } },
      });
      expect(res.status).toBe(201);
      const logs = await off.call('GET', '/api/companies/plain/logs', { token: off.adminToken });
      const actions = logs.body.items.map((l: { action: string }) => l.action);
      expect(actions).toEqual(expect.arrayContaining(['provision.role', 'provision.database', 'provision.ownership']));
      expect(actions).not.toContain('provision.claim');
      expect(logs.body.items.find((l: { action: string }) => l.action === 'created').details.via).toBe('template');
      const status = await off.call('GET', '/api/system/status', { token: off.adminToken });
      expect(status.body.servers[0].warmPool).toMatchObject({ ready: 1, target: 0 });
    } finally {
      await off.close();
    }
  });
});
