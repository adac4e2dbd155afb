// POST /api/companies/:company/credentials/rotate: company roles get new passwords while 16 clients
// keep reading and writing on two Silo instances (same management database) and no request fails:
// not one 5xx, not one 503. The pool map is kept smaller than the number of companies, so pools are
// opened (and logins made) all the time, and the management database's commit of a rotation is
// slowed down, so that logins land between ALTER ROLE and the commit. The old password stops
// working, the new one is never shown, and work running on a pool opened with the old password
// finishes on its connection before that pool ends.
import { setTimeout as sleep } from 'node:timers/promises';
import { sql as dsql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealedAt } from '../src/base/crypto/credentials.ts';
import { createApp } from '../src/http/app.ts';
import { findCompany } from '../src/control-plane/company-records.ts';
import { openSilo, type Silo } from '../src/bootstrap.ts';
import { createLogger } from '../src/base/logger.ts';
import { rowsOf } from '../src/data-plane/tenant-db.ts';
import { createTestSilo, serverUrl, type TestSilo } from './support/test-silo.ts';

const PASSWORD = 'boss-password';
let t: TestSilo;
let other: Silo;
let otherApp: ReturnType<typeof createApp>;
const otherLogs: string[] = [];

beforeAll(async () => {
  // Two pools for four companies: requests keep opening pools, so logins happen all the time.
  t = await createTestSilo({ env: { SILO_POOL_MAX_POOLS: '2' } });
  // A second instance on the same management database, secrets and prefix.
  other = await openSilo(t.config, {
    listen: true,
    log: createLogger('info', { write: (line: string) => void otherLogs.push(line) } as never),
  });
  otherApp = createApp(other.ctx);
});
afterAll(async () => {
  await other?.close();
  await t?.close();
});

async function createTenant(slug: string) {
  const created = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: slug, slug, admin: { email: `boss@${slug}.test`, password: PASSWORD } },
  });
  expect(created.status, created.text).toBe(201);
  const login = await t.call('POST', '/api/auth/login', {
    token: null,
    body: { email: `boss@${slug}.test`, password: PASSWORD, company: slug },
  });
  return { id: created.body.id as string, slug, token: login.body.token as string };
}

/**
 * Makes the management database's commit of a new company password take 400 ms (a deferred
 * trigger), as a synchronous replica far away would: the rotation's ALTER ROLE is done by then, so
 * logins that read the row meanwhile get the old password.
 */
async function slowCredentialCommits(): Promise<void> {
  await t.ctx.sql.unsafe(`
    create function slow_commit() returns trigger language plpgsql as $$
    begin perform pg_sleep(0.4); return null; end $$;
    create constraint trigger slow_credentials_commit after update on companies
      deferrable initially deferred for each row
      when (old.credentials_encrypted is distinct from new.credentials_encrypted)
      execute function slow_commit();`);
}

/** Whether a server backend (a connection) is still there. */
async function backendAlive(pid: number): Promise<boolean> {
  const rows = await t.admin`select 1 from pg_stat_activity where pid = ${pid}`;
  return rows.length > 0;
}

/** Whether the role can log in with this password, on a fresh connection. */
async function canLogIn(role: string, database: string, password: string): Promise<boolean> {
  const url = new URL(serverUrl(database));
  url.username = role;
  url.password = encodeURIComponent(password);
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

describe('rotating a company role password', () => {
  it('fails no request of 16 busy clients over four companies on two instances during eight rotations', async () => {
    const tenants = [await createTenant('rotating-a'), await createTenant('rotating-b'), await createTenant('rotating-c')];
    tenants.push(await createTenant('bystander'));
    const rotating = tenants.slice(0, 3);
    const passwordOf = async (slug: string) => {
      const row = (await findCompany(t.ctx, slug))!;
      return t.ctx.box.open(row.credentialsEncrypted!, sealedAt.companyCredentials(row.id));
    };
    const oldPasswords = await Promise.all(rotating.map((tenant) => passwordOf(tenant.slug)));
    await slowCredentialCommits();

    const failures: string[] = [];
    let done = 0;
    let running = true;
    const client = async (n: number) => {
      const app = n % 2 === 0 ? t.app : otherApp;
      for (let i = 0; running; i++) {
        const tenant = tenants[(n + i) % tenants.length]!;
        const write = i % 3 === 0;
        const res = await app.request(write ? '/api/documents' : '/api/documents?limit=5', {
          method: write ? 'POST' : 'GET',
          headers: { authorization: `Bearer ${tenant.token}`, 'content-type': 'application/json' },
          ...(write ? { body: JSON.stringify({ title: `c${n}-${i}`, content: 'x' }) } : {}),
        });
        if (res.status !== 200 && res.status !== 201) failures.push(`${tenant.slug} ${res.status} ${await res.text()}`);
        done++;
      }
    };
    const clients = Array.from({ length: 16 }, (_, n) => client(n));

    // Pools are dropped (as the LRU does) every 20 ms as well, so that whatever the machine's load,
    // requests open new pools, and log in, during each rotation's commit.
    const churn = (async () => {
      while (running) {
        for (const tenant of rotating) for (const instance of [t.ctx, other.ctx]) instance.tenants.pools.evict(tenant.id);
        await sleep(20);
      }
    })();

    await sleep(300);
    for (let round = 0; round < 8; round++) {
      const tenant = rotating[round % rotating.length]!;
      const rotated = await t.call('POST', `/api/companies/${tenant.slug}/credentials/rotate`, { token: t.adminToken });
      expect(rotated.status, rotated.text).toBe(200);
      expect(rotated.text).not.toContain(oldPasswords[round % rotating.length]!);
      await sleep(100);
    }
    running = false;
    await Promise.all([...clients, churn]);

    expect(failures.length, failures.slice(0, 5).join('\n')).toBe(0);
    expect(done).toBeGreaterThan(100);
    // Logins did land between ALTER ROLE and the commit (and were retried), or this proved nothing.
    expect([...t.logs, ...otherLogs].filter((line) => line.includes('tenant login refused')).length).toBeGreaterThan(0);
    for (const [index, tenant] of rotating.entries()) {
      const row = (await findCompany(t.ctx, tenant.slug))!;
      const newPassword = await passwordOf(tenant.slug);
      expect(newPassword).not.toBe(oldPasswords[index]);
      expect(await canLogIn(row.roleName!, row.databaseName!, oldPasswords[index]!)).toBe(false);
      expect(await canLogIn(row.roleName!, row.databaseName!, newPassword)).toBe(true);
      for (const log of [...t.logs, ...otherLogs]) expect(log).not.toContain(newPassword);
    }
    const audit = await t.call('GET', '/api/companies/rotating-a/logs', { token: t.adminToken });
    expect(audit.body.items.filter((e: { action: string }) => e.action === 'credentials_rotated')).toHaveLength(3);
  }, 120_000);

  it('lets work running on the old pool finish on its connection, then ends that pool', async () => {
    const tenant = await createTenant('draining');
    const company = (await findCompany(t.ctx, tenant.slug))!;
    // A query that runs across the rotation, on a connection logged in with the old password.
    let pid = 0;
    const long = t.ctx.tenants.run(company, async (db) => {
      const [row] = rowsOf<{ pid: number }>(await db.execute(dsql`select pg_backend_pid() as pid`));
      pid = row!.pid;
      await db.execute(dsql`select pg_sleep(1)`);
      return rowsOf<{ pid: number }>(await db.execute(dsql`select pg_backend_pid() as pid`))[0]!.pid;
    });
    while (pid === 0) await sleep(10);
    const rotated = await t.call('POST', `/api/companies/${tenant.slug}/credentials/rotate`, { token: t.adminToken });
    expect(rotated.status, rotated.text).toBe(200);
    expect(t.ctx.tenants.pools.stats().drainingPools).toBeGreaterThanOrEqual(1);
    expect(await backendAlive(pid)).toBe(true);
    // The same connection served the whole piece of work: it was not cut.
    expect(await long).toBe(pid);
    // Once its work is done, the old pool ends (its connection closes) and requests use a new one.
    for (let i = 0; i < 100 && (await backendAlive(pid)); i++) await sleep(50);
    expect(await backendAlive(pid)).toBe(false);
    const read = await t.call('GET', '/api/documents', { token: tenant.token });
    expect(read.status, read.text).toBe(200);
  }, 60_000);

  it('answers 404 for an unknown company and 409 for a deleted one', async () => {
    expect((await t.call('POST', '/api/companies/no-such-company/credentials/rotate', { token: t.adminToken })).status).toBe(404);
    const gone = await createTenant('gone-soon');
    const deleted = await t.call('DELETE', '/api/companies/gone-soon', { token: t.adminToken, headers: { 'x-confirm': 'gone-soon' } });
    expect(deleted.status, deleted.text).toBe(200);
    const res = await t.call('POST', `/api/companies/${gone.id}/credentials/rotate`, { token: t.adminToken });
    expect(res.status, res.text).toBe(409);
    expect(res.body.error.code).toBe('conflict');
  });

  it('is for system admins only', async () => {
    const tenant = await createTenant('not-admin');
    const res = await t.call('POST', '/api/companies/not-admin/credentials/rotate', { token: tenant.token });
    expect(res.status).toBe(403);
  });
});
