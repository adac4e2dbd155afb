// Issue 17, finding 1: whoever can write a company's database (the owner of a bring-your-own
// database) must not become a system admin. Each path that issues a token is tried with a row
// planted the way such an owner would: the role CHECK dropped, then a `system_admin` row inserted.
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../src/base/auth/passwords.ts';
import { createTestSilo, serverUrl, type TestSilo } from './support/test-silo.ts';

const JWT_SECRET = 'a-test-signing-secret-of-at-least-32-bytes';
const PLANTED = { email: 'mallory@planted.test', password: 'mallory-password' };

let t: TestSilo;
let company: { id: string; slug: string; database: string };
/** The company's database as its owner sees it. */
let owner: postgres.Sql;

beforeAll(async () => {
  t = await createTestSilo({ env: { SILO_JWT_SECRET: JWT_SECRET, SILO_REGISTRY_TTL_MS: '0' } });
  const created = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: 'Planted', slug: 'planted', admin: { email: 'boss@planted.test', password: 'boss-password' } },
  });
  expect(created.status).toBe(201);
  company = created.body;
  owner = postgres(serverUrl(company.database), { max: 1, onnotice: () => {} });
  // An external database's owner can drop the defence-in-depth CHECKs; mimic that.
  await owner`alter table users drop constraint users_role_check`;
  await owner`alter table user_invitations drop constraint user_invitations_role_check`;
  await owner`insert into users (email, role, password_hash)
    values (${PLANTED.email}, 'system_admin', ${await hashPassword(PLANTED.password)})`;
});
afterAll(async () => {
  await owner?.end();
  await t?.close();
});

/** Whether a token reaches any system-admin route. */
async function reachesSystemRoutes(token: string) {
  const answers = await Promise.all(['/api/companies', '/api/servers', '/api/system/status'].map((path) => t.call('GET', path, { token })));
  return answers.some((answer) => answer.status === 200);
}

const signed = (claims: Record<string, unknown>, sub: string) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuer('silo')
    .setAudience('silo-api')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(JWT_SECRET));

describe('a planted system_admin row in a tenant database', () => {
  it('is refused at login, and logged without the password', async () => {
    const login = await t.call('POST', '/api/auth/login', { token: null, body: { ...PLANTED, company: 'planted' } });
    expect(login.status).toBe(403);
    expect(login.body.error.code).toBe('forbidden');
    expect(login.body.token).toBeUndefined();
    const logged = t.logs.filter((line) => line.includes('a role Silo does not issue'));
    expect(logged.length).toBeGreaterThan(0);
    expect(t.logs.join('\n')).not.toContain(PLANTED.password);
  });

  it('is refused at the OAuth2 token grant', async () => {
    const res = await t.app.request('/api/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: PLANTED.email, password: PLANTED.password, company: company.id }),
    });
    const body = await res.json();
    expect(res.status).toBe(403);
    expect(body.access_token).toBeUndefined();
  });

  it('is refused at invitation accept, which creates no user', async () => {
    const token = `${company.id}.${randomBytes(32).toString('base64url')}`;
    await owner`insert into user_invitations (email, role, token_hash, expires_at)
      values ('eve@planted.test', 'system_admin', ${createHash('sha256').update(token).digest('hex')}, now() + interval '1 day')`;
    const res = await t.call('POST', '/api/invitations/accept', { token: null, body: { token, password: 'eve-password' } });
    expect(res.status).toBe(403);
    expect(res.body.token).toBeUndefined();
    expect(await owner`select 1 from users where email = 'eve@planted.test'`).toHaveLength(0);
  });

  it('ends the token of a user whose row is changed to it', async () => {
    const member = await t.call('POST', '/api/users', {
      token: (
        await t.call('POST', '/api/auth/login', {
          token: null,
          body: { email: 'boss@planted.test', password: 'boss-password', company: 'planted' },
        })
      ).body.token,
      body: { email: 'mo@planted.test', role: 'member', password: 'member-password' },
    });
    expect(member.status).toBe(201);
    const login = await t.call('POST', '/api/auth/login', {
      token: null,
      body: { email: 'mo@planted.test', password: 'member-password', company: 'planted' },
    });
    await owner`update users set role = 'system_admin' where email = 'mo@planted.test'`;
    await new Promise((resolve) => setTimeout(resolve, 5)); // past the role cache (SILO_REGISTRY_TTL_MS=0)
    expect((await t.call('GET', '/api/users', { token: login.body.token })).status).toBe(401);
    expect(await reachesSystemRoutes(login.body.token)).toBe(false);
  });
});

describe('the role CHECK (defence in depth)', () => {
  it('keeps a migrated tenant database from holding another role', async () => {
    const other = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Checked', slug: 'checked', admin: { email: 'boss@checked.test' } },
    });
    const db = postgres(serverUrl(other.body.database), { max: 1, onnotice: () => {} });
    try {
      await expect(db`update users set role = 'system_admin'`).rejects.toMatchObject({ code: '23514' });
      await expect(
        db`insert into user_invitations (email, role, token_hash, expires_at) values ('x@checked.test', 'system_admin', 'h', now())`,
      ).rejects.toMatchObject({ code: '23514' });
    } finally {
      await db.end();
    }
  });
});

describe('system routes', () => {
  it('refuse a token with a company and role system_admin, signed with the real key', async () => {
    const token = await signed({ role: 'system_admin', cid: company.id }, crypto.randomUUID());
    expect(await reachesSystemRoutes(token)).toBe(false);
    expect((await t.call('GET', '/api/companies', { token })).status).toBe(401);
  });

  it('refuse a system_admin token whose user is not a system admin', async () => {
    const [planted] = await owner<{ id: string }[]>`select id from users where email = ${PLANTED.email}`;
    const token = await signed({ role: 'system_admin' }, planted!.id);
    expect(await reachesSystemRoutes(token)).toBe(false);
    expect((await t.call('GET', '/api/system/status', { token })).status).toBe(401);
  });

  it('still serve a real system admin', async () => {
    expect((await t.call('GET', '/api/companies', { token: t.adminToken })).status).toBe(200);
  });
});
