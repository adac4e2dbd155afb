// A new password, a logout and `silo admin revoke-tokens` end a
// user's tokens from the next request, in every instance (two Silo apps on one management database).
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSilo, type Silo } from '../src/bootstrap.ts';
import { runCli } from '../src/cli/main.ts';
import { createApp } from '../src/http/app.ts';
import { ADMIN, createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
let other: Silo;
let otherApp: ReturnType<typeof createApp>;
let bossToken: string;

/** The status of GET /api/auth/me with a token, on this instance and on the other. */
async function meOnBoth(token: string) {
  const here = await t.call('GET', '/api/auth/me', { token });
  const there = await otherApp.request('/api/auth/me', { headers: { authorization: `Bearer ${token}` } });
  return [here.status, there.status];
}

/**
 * meOnBoth() once the other instance has had the change's NOTIFY: the instance that made the change
 * refuses the token at once, and the other within the time a notification takes to arrive. (Both
 * run in this one process: two requests answered from their caches can end before the event loop
 * has read the notification off the other instance's socket, which separate processes would have.)
 */
async function refusedOnBoth(token: string) {
  const here = await t.call('GET', '/api/auth/me', { token });
  expect(here.status).toBe(401);
  const deadline = Date.now() + 2_000;
  let statuses = await meOnBoth(token);
  while (statuses[1] !== 401 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    statuses = await meOnBoth(token);
  }
  return statuses;
}

const logIn = async (email: string, password: string, company?: string) => {
  const res = await t.call('POST', '/api/auth/login', { token: null, body: { email, password, ...(company ? { company } : {}) } });
  expect(res.status).toBe(200);
  return res.body.token as string;
};

beforeAll(async () => {
  t = await createTestSilo();
  other = await openSilo(t.config, { listen: true, logDestination: new Writable({ write: (_c, _e, done) => done() }) });
  otherApp = createApp(other.ctx);
  const created = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: 'Revoke', slug: 'revoke', admin: { email: 'boss@revoke.test', password: 'boss-password' } },
  });
  expect(created.status).toBe(201);
  bossToken = await logIn('boss@revoke.test', 'boss-password', 'revoke');
});
afterAll(async () => {
  await other?.close();
  await t?.close();
});

describe('token revocation', () => {
  it("ends a company user's tokens when their password changes, in every instance", async () => {
    const made = await t.call('POST', '/api/users', {
      token: bossToken,
      body: { email: 'ann@revoke.test', role: 'member', password: 'first-password' },
    });
    const tokens = [await logIn('ann@revoke.test', 'first-password', 'revoke'), await logIn('ann@revoke.test', 'first-password', 'revoke')];
    // Both instances have served (and cached) both tokens.
    for (const token of tokens) expect(await meOnBoth(token)).toEqual([200, 200]);
    const changed = await t.call('PATCH', `/api/users/${made.body.id}`, { token: bossToken, body: { password: 'second-password' } });
    expect(changed.status).toBe(200);
    for (const token of tokens) expect(await refusedOnBoth(token)).toEqual([401, 401]);
    // The new password logs in at once.
    expect(await meOnBoth(await logIn('ann@revoke.test', 'second-password', 'revoke'))).toEqual([200, 200]);
    // A change of name alone ends nothing.
    expect((await t.call('PATCH', `/api/users/${made.body.id}`, { token: bossToken, body: { name: 'Ann' } })).status).toBe(200);
    expect(await meOnBoth(bossToken)).toEqual([200, 200]);
  });

  it("ends the caller's token on logout, in every instance; logging in again works at once", async () => {
    const token = await logIn(ADMIN.email, ADMIN.password);
    expect(await meOnBoth(token)).toEqual([200, 200]);
    expect((await t.call('POST', '/api/auth/logout', { token })).status).toBe(204);
    expect(await refusedOnBoth(token)).toEqual([401, 401]);
    expect((await t.call('GET', '/api/companies', { token })).body.error.message).toBe('this token has been revoked');
    expect(await meOnBoth(await logIn(ADMIN.email, ADMIN.password))).toEqual([200, 200]);
  });

  it('ends a user\'s tokens with "silo admin revoke-tokens"', async () => {
    const env = { DATABASE_URL: t.config.databaseUrl!, SILO_DATA_DIR: t.config.dataDir, SILO_DB_PREFIX: t.config.dbPrefix };
    const silo = async (...argv: string[]) => {
      const out: string[] = [];
      const code = await runCli(argv, {
        env,
        stdout: { write: (s: string) => out.push(s) },
        stderr: { write: (s: string) => out.push(s) },
      });
      return { code, output: out.join('') };
    };
    const adminToken = await logIn(ADMIN.email, ADMIN.password);
    const companyToken = await logIn('boss@revoke.test', 'boss-password', 'revoke');
    expect(await meOnBoth(adminToken)).toEqual([200, 200]);
    expect(await silo('admin', 'revoke-tokens', '--email', ADMIN.email.toUpperCase())).toEqual({
      code: 0,
      output: `revoked every token of ${ADMIN.email.toUpperCase()}\n`,
    });
    expect(await meOnBoth(adminToken)).toEqual([401, 401]);
    expect(await meOnBoth(companyToken)).toEqual([200, 200]);
    expect((await silo('admin', 'revoke-tokens', '--email', 'boss@revoke.test', '--company', 'revoke')).code).toBe(0);
    expect(await meOnBoth(companyToken)).toEqual([401, 401]);
    expect((await silo('admin', 'revoke-tokens', '--email', 'nobody@revoke.test')).code).toBe(1);
  });
});
