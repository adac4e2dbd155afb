// The company plane's users API: roles, the maxUsers limit under concurrency, and isolation.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSilo } from '../src/bootstrap.ts';
import { createApp } from '../src/http/app.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
// Each company's admin token, set in beforeAll (c: by the test that creates that company).
const tokens = {} as { a: string; b: string; c: string; limited: string };

async function companyWithAdmin(slug: string, extra: Record<string, unknown> = {}) {
  const created = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: slug, slug, admin: { email: `boss@${slug}.test`, password: 'boss-password' }, ...extra },
  });
  expect(created.status).toBe(201);
  const login = await t.call('POST', '/api/auth/login', {
    token: null,
    body: { email: `boss@${slug}.test`, password: 'boss-password', company: slug },
  });
  expect(login.status).toBe(200);
  return login.body.token as string;
}

beforeAll(async () => {
  t = await createTestSilo();
  tokens.a = await companyWithAdmin('users-a');
  tokens.b = await companyWithAdmin('users-b');
  tokens.limited = await companyWithAdmin('users-limited', { maxUsers: 5 });
});
afterAll(async () => {
  await t?.close();
});

describe('users', () => {
  it('lets a company_admin add users, and a member only read', async () => {
    const created = await t.call('POST', '/api/users', {
      token: tokens.a,
      body: { email: 'member@users-a.test', role: 'member', password: 'member-password' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email: 'member@users-a.test', role: 'member' });
    expect(created.body.passwordHash).toBeUndefined();

    const member = await t.call('POST', '/api/auth/login', {
      token: null,
      body: { email: 'member@users-a.test', password: 'member-password', company: 'users-a' },
    });
    expect(member.status).toBe(200);
    const list = await t.call('GET', '/api/users', { token: member.body.token });
    expect(list.body.items.map((u: { email: string }) => u.email).sort()).toEqual(['boss@users-a.test', 'member@users-a.test']);
    const denied = await t.call('POST', '/api/users', {
      token: member.body.token,
      body: { email: 'x@users-a.test', role: 'member', password: 'whatever-password' },
    });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('forbidden');

    const duplicate = await t.call('POST', '/api/users', {
      token: tokens.a,
      body: { email: 'MEMBER@users-a.test', role: 'member', password: 'member-password' },
    });
    expect(duplicate.status).toBe(409);
  });

  it('refuses text Postgres cannot store with 400, not 500', async () => {
    const res = await t.call('POST', '/api/users', {
      token: tokens.a,
      body: { email: 'nul@users-a.test', name: 'a\u0000b', role: 'member', password: 'member-password' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
  });

  it('keeps the last company_admin', async () => {
    const me = await t.call('GET', '/api/auth/me', { token: tokens.b });
    const res = await t.call('DELETE', `/api/users/${me.body.user.id}`, { token: tokens.b });
    expect(res.status).toBe(409);
  });

  it('creates exactly maxUsers users when 20 creates race', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.call('POST', '/api/users', {
          token: tokens.limited,
          body: { email: `u${i}@users-limited.test`, role: 'member', password: 'member-password' },
        }),
      ),
    );
    const statuses = results.map((r) => r.status);
    // The first admin is one of the 5.
    expect(statuses.filter((s) => s === 201)).toHaveLength(4);
    expect(statuses.filter((s) => s === 409)).toHaveLength(16);
    expect(results.find((r) => r.status === 409)!.body.error.code).toBe('limit_exceeded');
    const list = await t.call('GET', '/api/users?limit=200', { token: tokens.limited });
    expect(list.body.items).toHaveLength(5);
  });
});

describe('isolation', () => {
  it("answers 404 for another company's user, and lists only the caller's users", async () => {
    const aUsers = await t.call('GET', '/api/users', { token: tokens.a });
    const aUserId = aUsers.body.items[0].id;
    for (const [method, body] of [
      ['GET', undefined],
      ['PATCH', { name: 'stolen' }],
      ['DELETE', undefined],
    ] as const) {
      const res = await t.call(method, `/api/users/${aUserId}`, { token: tokens.b, body });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    const bList = await t.call('GET', '/api/users', { token: tokens.b });
    expect(bList.body.items.map((u: { email: string }) => u.email)).toEqual(['boss@users-b.test']);
  });

  it('ignores headers that name another company', async () => {
    const a = await t.call('GET', '/api/companies/users-a', { token: t.adminToken });
    for (const header of ['x-tenant-id', 'x-company-id', 'x-app-id', 'x-company']) {
      const res = await t.call('GET', '/api/users', { token: tokens.b, headers: { [header]: a.body.id } });
      expect(res.body.items.map((u: { email: string }) => u.email)).toEqual(['boss@users-b.test']);
    }
  });

  it('refuses a system admin token on company routes, and a company token on admin routes', async () => {
    expect((await t.call('GET', '/api/users', { token: t.adminToken })).status).toBe(403);
    expect((await t.call('GET', '/api/companies', { token: tokens.a })).status).toBe(403);
  });
});

describe('suspension', () => {
  it('blocks a suspended company at once while others keep working, and reactivation restores it', async () => {
    expect((await t.call('GET', '/api/users', { token: tokens.a })).status).toBe(200); // pool is warm
    await t.call('PATCH', '/api/companies/users-a', { token: t.adminToken, body: { status: 'suspended' } });
    const blocked = await t.call('GET', '/api/users', { token: tokens.a });
    expect(blocked.status).toBe(403);
    expect(blocked.body.error.code).toBe('company_suspended');
    expect((await t.call('GET', '/api/users', { token: tokens.b })).status).toBe(200);
    await t.call('PATCH', '/api/companies/users-a', { token: t.adminToken, body: { status: 'active' } });
    expect((await t.call('GET', '/api/users', { token: tokens.a })).status).toBe(200);
  });

  it('answers 401 once the company is deleted', async () => {
    await t.call('DELETE', '/api/companies/users-b', { token: t.adminToken, headers: { 'x-confirm': 'users-b' } });
    const res = await t.call('GET', '/api/users', { token: tokens.b });
    expect(res.status).toBe(401);
  });
});

describe('tokens of users who changed', () => {
  async function login(email: string, password: string) {
    const res = await t.call('POST', '/api/auth/login', { token: null, body: { email, password, company: 'users-c' } });
    expect(res.status).toBe(200);
    return res.body.token as string;
  }

  it('stop working when the user is deleted, and act with the new role when it changes, in every instance', async () => {
    // A second Silo instance on the same management database, as behind a load balancer.
    const other = await openSilo(t.config, { listen: true, logDestination: new Writable({ write: (_c, _e, done) => done() }) });
    const otherApp = createApp(other.ctx);
    const onOther = (token: string, method = 'GET', path = '/api/users', body?: unknown) =>
      otherApp.request(path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    try {
      tokens.c = await companyWithAdmin('users-c');
      for (const email of ['gone@users-c.test', 'second-admin@users-c.test']) {
        const role = email.startsWith('second') ? 'company_admin' : 'member';
        const made = await t.call('POST', '/api/users', { token: tokens.c, body: { email, role, password: 'user-password' } });
        expect(made.status).toBe(201);
      }
      const gone = await login('gone@users-c.test', 'user-password');
      const second = await login('second-admin@users-c.test', 'user-password');
      // Both instances have served (and cached) them.
      for (const token of [gone, second]) {
        expect((await t.call('GET', '/api/users', { token })).status).toBe(200);
        expect((await onOther(token)).status).toBe(200);
      }
      const newcomer = { email: 'newcomer@users-c.test', role: 'member', password: 'user-password' };
      expect((await onOther(second, 'POST', '/api/users', newcomer)).status).toBe(201);

      const users = (await t.call('GET', '/api/users', { token: tokens.c })).body.items as { id: string; email: string }[];
      const id = (email: string) => users.find((u) => u.email === email)!.id;
      expect((await t.call('DELETE', `/api/users/${id('gone@users-c.test')}`, { token: tokens.c })).status).toBe(204);
      expect(
        (await t.call('PATCH', `/api/users/${id('second-admin@users-c.test')}`, { token: tokens.c, body: { role: 'member' } })).status,
      ).toBe(200);

      // This instance at once; the other within moments (NOTIFY), long before the tokens expire.
      const deleted = await t.call('GET', '/api/users', { token: gone });
      expect(deleted.status).toBe(401);
      expect(deleted.body.error.message).toBe('the user of this token no longer exists');
      expect((await t.call('DELETE', `/api/users/${id('newcomer@users-c.test')}`, { token: second })).status).toBe(403);
      expect((await t.call('GET', '/api/users', { token: second })).status).toBe(200);
      await eventually(async () => (await onOther(gone)).status === 401);
      await eventually(async () => (await onOther(second, 'DELETE', `/api/users/${id('newcomer@users-c.test')}`)).status === 403);
    } finally {
      await other.close();
    }
  });
});

async function eventually(check: () => Promise<boolean>, attempts = 40): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the condition did not become true in time');
}
