// GET /api/companies/:company/database/test reports a database that refuses the company's login
// as its result (ok: false and why), not as a server error, and never shows a secret.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;

beforeAll(async () => {
  t = await createTestSilo();
});
afterAll(async () => {
  await t?.close();
});

it("answers ok: false with the reason when the database refuses the company's login", async () => {
  const created = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: 'Refused', slug: 'refused', admin: { email: 'boss@refused.test', password: 'boss-password' } },
  });
  expect(created.status).toBe(201);
  expect((await t.call('GET', '/api/companies/refused/database/test', { token: t.adminToken })).body).toMatchObject({ ok: true });

  // The role's password changed under Silo.
  const [row] = await t.ctx.sql<{ role: string }[]>`select role_name as role from companies where slug = 'refused'`;
  await t.admin.unsafe(`alter role "${row!.role}" password 'changed-under-silo'`);
  const refused = await t.call('GET', '/api/companies/refused/database/test', { token: t.adminToken });
  expect(refused.status).toBe(200);
  expect(refused.body).toMatchObject({ ok: false, serverVersion: null, pendingMigrations: null });
  expect(refused.body.reason).toMatch(/password authentication failed/);
  expect(refused.text).not.toContain('changed-under-silo');
  expect(refused.text).not.toMatch(/postgres(ql)?:\/\//);
});
