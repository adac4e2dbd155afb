// POST /api/companies/:company/credentials/rotate: the company's role gets a new password while 16
// clients keep reading and writing; nothing answers 500 (a connection that logs in within the one
// round trip between ALTER ROLE and the commit gets 503 with Retry-After: 1), the old password stops
// working, the new one is never shown, and a second Silo instance (same management database)
// follows without a restart.
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealedAt } from '../src/base/crypto/credentials.ts';
import { createApp } from '../src/http/app.ts';
import { findCompany } from '../src/control-plane/company-records.ts';
import { openSilo, type Silo } from '../src/bootstrap.ts';
import { createLogger } from '../src/base/logger.ts';
import { createTestSilo, serverUrl, type TestSilo } from './support/test-silo.ts';

const PASSWORD = 'boss-password';
let t: TestSilo;
let other: Silo;
let otherApp: ReturnType<typeof createApp>;
const otherLogs: string[] = [];

beforeAll(async () => {
  t = await createTestSilo();
  // A second instance on the same management database, secrets and prefix.
  other = await openSilo(t.config, {
    listen: true,
    log: createLogger('error', { write: (line: string) => void otherLogs.push(line) } as never),
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
  it('fails no request of 16 busy clients on two instances (but a rare 503 to retry), and the old password stops working', async () => {
    const tenants = [await createTenant('rotating'), await createTenant('bystander')];
    const before = (await findCompany(t.ctx, 'rotating'))!;
    const oldPassword = t.ctx.box.open(before.credentialsEncrypted!, sealedAt.companyCredentials(before.id));

    const failures: string[] = [];
    let done = 0;
    // Answers to retry: a connection that logged in between ALTER ROLE and the row's commit.
    let retried = 0;
    let running = true;
    const client = async (n: number) => {
      const app = n % 2 === 0 ? t.app : otherApp;
      for (let i = 0; running; i++) {
        const tenant = tenants[i % 4 === 0 ? 1 : 0]!;
        const write = i % 3 === 0;
        const res = await app.request(write ? '/api/documents' : '/api/documents?limit=5', {
          method: write ? 'POST' : 'GET',
          headers: { authorization: `Bearer ${tenant.token}`, 'content-type': 'application/json' },
          ...(write ? { body: JSON.stringify({ title: `c${n}-${i}`, content: 'x' }) } : {}),
        });
        if (res.status === 503 && res.headers.get('retry-after') === '1') retried++;
        else if (res.status !== 200 && res.status !== 201) failures.push(`${res.status} ${await res.text()}`);
        done++;
      }
    };
    const clients = Array.from({ length: 16 }, (_, n) => client(n));

    await sleep(300);
    for (let round = 0; round < 3; round++) {
      const rotated = await t.call('POST', '/api/companies/rotating/credentials/rotate', { token: t.adminToken });
      expect(rotated.status, rotated.text).toBe(200);
      expect(rotated.text).not.toContain(oldPassword);
      // Pools opened meanwhile in the other instance must log in again with the new password.
      other.ctx.tenants.pools.evict(tenants[0]!.id);
      await sleep(300);
    }
    running = false;
    await Promise.all(clients);

    expect(failures).toEqual([]);
    expect(done).toBeGreaterThan(30);
    // The window is one round trip per rotation (three here, on two instances): a handful at most.
    expect(retried).toBeLessThanOrEqual(3 * 2);
    const after = (await findCompany(t.ctx, 'rotating'))!;
    const newPassword = t.ctx.box.open(after.credentialsEncrypted!, sealedAt.companyCredentials(after.id));
    expect(newPassword).not.toBe(oldPassword);
    expect(await canLogIn(after.roleName!, after.databaseName!, oldPassword)).toBe(false);
    expect(await canLogIn(after.roleName!, after.databaseName!, newPassword)).toBe(true);
    for (const log of t.logs) expect(log).not.toContain(newPassword);

    const audit = await t.call('GET', '/api/companies/rotating/logs', { token: t.adminToken });
    expect(audit.body.items.filter((e: { action: string }) => e.action === 'credentials_rotated')).toHaveLength(3);
  }, 120_000);

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
