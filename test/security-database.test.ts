// What a tenant role can reach beyond its own database: the management
// database and, on the embedded server, `postgres` and `template1` are closed to it; what it could
// still send on Silo's change channels is ignored unless it names an id; it has a connection limit.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSilo } from '../src/bootstrap.ts';
import { loadConfig } from '../src/base/config/config.ts';
import type { SiloContext } from '../src/context.ts';
import { provisionCompany } from '../src/operations/provisioning/provision-company.ts';
import { quoteIdent } from '../src/base/names.ts';
import { COMPANY_CHANGED_CHANNEL, USER_CHANGED_CHANNEL } from '../src/data-plane/tenants.ts';
import { createTestSilo, namesOf, randomName, type TestSilo } from './support/test-silo.ts';
import { sealedAt } from '../src/base/crypto/credentials.ts';

let t: TestSilo;
beforeAll(async () => {
  t = await createTestSilo();
});
afterAll(async () => {
  await t?.close();
});

/** A company's real role and password, as Silo stores them. */
async function roleOf(ctx: SiloContext, slug: string) {
  const row = await ctx.db.query.companies.findFirst({ where: (c, { eq, and, ne }) => and(eq(c.slug, slug), ne(c.status, 'deleted')) });
  return { id: row!.id, user: row!.roleName!, password: ctx.box.open(row!.credentialsEncrypted!, sealedAt.companyCredentials(row!.id)) };
}

/** Connects as `role` to `database` on the server behind `serverUrl` and runs one query. */
async function connectAs(serverUrl: string, database: string, role: { user: string; password: string }) {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  url.username = role.user;
  url.password = role.password;
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    return await sql`select current_user as user`;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

const managementDatabase = () => new URL(t.config.databaseUrl!).pathname.slice(1);

describe('a tenant role', () => {
  beforeAll(async () => {
    const made = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Reach', slug: 'reach', admin: { email: 'a@reach.test' } },
    });
    expect(made.status).toBe(201);
  });

  it('reaches its own database but not the management database', async () => {
    const role = await roleOf(t.ctx, 'reach');
    const own = (await namesOf(t, 'reach')).database;
    expect(await connectAs(t.config.databaseUrl!, own, role)).toEqual([{ user: role.user }]);
    await expect(connectAs(t.config.databaseUrl!, managementDatabase(), role)).rejects.toMatchObject({ code: '42501' });
  });

  it('has the configured connection limit, and an existing role without it gets it on the next start', async () => {
    const { user } = await roleOf(t.ctx, 'reach');
    const limitOf = async () => (await t.admin<{ n: number }[]>`select rolconnlimit as n from pg_roles where rolname = ${user}`)[0]?.n;
    expect(t.config.tenantConnectionLimit).toBe(10 * t.config.pools.perCompany);
    expect(await limitOf()).toBe(t.config.tenantConnectionLimit);

    // A role made before the limit existed: none (-1).
    await t.admin.unsafe(`alter role ${quoteIdent(user)} connection limit -1`);
    const config = { ...t.config, tenantConnectionLimit: 7 };
    const restarted = await openSilo(config, { prepareTemplates: true, logDestination: { write: () => {} } });
    await restarted.close();
    expect(await limitOf()).toBe(7);
  });
});

describe('change notifications', () => {
  let companyId: string;
  let token: string;
  beforeAll(async () => {
    const made = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Notify', slug: 'notify', admin: { email: 'a@notify.test', password: 'notify-password' } },
    });
    expect(made.status).toBe(201);
    companyId = made.body.id;
    const login = await t.call('POST', '/api/auth/login', {
      token: null,
      body: { email: 'a@notify.test', password: 'notify-password', company: 'notify' },
    });
    token = login.body.token;
  });

  const openPools = () => t.ctx.tenants.pools.stats().openPools;
  const notify = (channel: string, payload: string) => t.ctx.sql`select pg_notify(${channel}, ${payload})`;
  const until = async (done: () => boolean) => {
    for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 20));
  };

  it('that name no id are ignored (and logged without their payload); a company id still evicts its pool', async () => {
    expect((await t.call('GET', '/api/users', { token })).status).toBe(200);
    expect(openPools()).toBe(1);
    const junk = [`${companyId} `, companyId.toUpperCase(), `${companyId};drop`, 'x'.repeat(500), ''];
    const warnings = () => t.logs.filter((l) => l.includes('ignored a change notification')).length;
    const before = warnings();
    for (const payload of junk) await notify(COMPANY_CHANGED_CHANNEL, payload);
    await notify(USER_CHANGED_CHANNEL, `${companyId}:not-a-user`);
    await until(() => warnings() >= before + junk.length + 1);
    expect(warnings()).toBe(before + junk.length + 1);
    expect(openPools()).toBe(1);
    expect(t.logs.join('')).not.toContain(`${companyId};drop`);

    // The channel still works for what it is for.
    await notify(COMPANY_CHANGED_CHANNEL, companyId);
    await until(() => openPools() === 0);
    expect(openPools()).toBe(0);
  });
});

describe('the embedded server', () => {
  it('closes postgres, template1 and the management database to tenant roles', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'silo-embedded-'));
    const config = loadConfig({ SILO_DATA_DIR: dataDir, SILO_DB_PREFIX: `e${randomName(7)}`, SILO_LOG_LEVEL: 'silent' });
    const silo = await openSilo(config);
    try {
      await provisionCompany(silo.ctx, { name: 'Inside', slug: 'inside', admin: { email: 'a@inside.test' } }, 'test');
      const role = await roleOf(silo.ctx, 'inside');
      const server = (await silo.ctx.servers.admin((await silo.ctx.db.query.databaseServers.findFirst())!.id)).options;
      const url = `postgres://${server.host[0]}:${server.port[0]}/postgres`;
      expect(await connectAs(url, (await namesOf(silo, 'inside')).database, role)).toEqual([{ user: role.user }]);
      for (const database of ['postgres', 'template1', 'silo']) {
        await expect(connectAs(url, database, role), database).rejects.toMatchObject({ code: '42501' });
      }
    } finally {
      await silo.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
