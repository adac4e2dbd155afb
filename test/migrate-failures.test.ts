// `silo migrate apply` and `silo migrate status` tell the same story: a company that apply
// reports as FAILED is in status's failed list with the same error, whatever made it fail (here:
// its database refusing the company's login), and a later successful apply clears it.
import { sealedAt } from '../src/base/crypto/credentials.ts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliFor } from './support/cli.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
let silo: ReturnType<typeof cliFor>;
beforeAll(async () => {
  t = await createTestSilo();
  silo = cliFor(t);
});
afterAll(async () => {
  await t?.close();
});

it('records every failure apply reports, so that status lists it, and clears it once apply succeeds', async () => {
  const created = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: 'Locked out', slug: 'locked-out', admin: { email: 'boss@locked-out.test', password: 'boss-password' } },
  });
  expect(created.status).toBe(201);
  const [row] = await t.ctx.sql<{ id: string; role: string; sealed: string }[]>`
    select id, role_name as role, credentials_encrypted as sealed from companies where slug = 'locked-out'`;
  await t.admin.unsafe(`alter role "${row!.role}" password 'changed-under-silo'`);

  const apply = await silo('migrate', 'apply', '--only', 'locked-out');
  expect(apply.code).not.toBe(0);
  expect(apply.stdout).toMatch(/locked-out: FAILED/);
  const failed = JSON.parse((await silo('migrate', 'status', '--json')).stdout).failed;
  expect(failed).toEqual([expect.objectContaining({ slug: 'locked-out', error: expect.stringMatching(/password authentication failed/) })]);
  expect(apply.stdout).toContain(failed[0].error);

  // The login works again: apply succeeds and status has nothing failed.
  await t.admin.unsafe(
    `alter role "${row!.role}" password '${t.ctx.box.open(row!.sealed, sealedAt.companyCredentials(row!.id)).replaceAll("'", "''")}'`,
  );
  expect((await silo('migrate', 'apply', '--only', 'locked-out')).code).toBe(0);
  expect(JSON.parse((await silo('migrate', 'status', '--json')).stdout).failed).toEqual([]);
});
