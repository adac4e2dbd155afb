// Credentials at rest: each sealed value is bound to its row and column, so
// a value copied into another company's row does not open; values in the earlier format keep
// working and are re-sealed, bound, on the next start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSilo } from '../src/bootstrap.ts';
import { resolveSecrets } from '../src/base/config/secrets.ts';
import { companies } from '../src/control-plane/schema.ts';
import { isCurrentFormat, sealedAt } from '../src/base/crypto/credentials.ts';
import { companyDatabaseUrl } from '../src/data-plane/company-database.ts';
import { eq } from 'drizzle-orm';
import { sealV1 } from './support/legacy-seal.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
beforeAll(async () => {
  t = await createTestSilo();
  for (const slug of ['first', 'second', 'older']) {
    const made = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: slug, slug, admin: { email: `a@${slug}.test`, password: `${slug}-password` } },
    });
    expect(made.status).toBe(201);
  }
});
afterAll(async () => {
  await t?.close();
});

const rowOf = async (slug: string) => (await t.ctx.db.query.companies.findFirst({ where: (c, { eq }) => eq(c.slug, slug) }))!;
const login = (slug: string) =>
  t.call('POST', '/api/auth/login', { token: null, body: { email: `a@${slug}.test`, password: `${slug}-password`, company: slug } });

describe('a sealed credential', () => {
  it("copied into another company's row does not open there", async () => {
    const first = await rowOf('first');
    const second = await rowOf('second');
    // The second company's row made to point at the first company's database, with its sealed password.
    const forged = {
      ...second,
      databaseName: first.databaseName,
      roleName: first.roleName,
      credentialsEncrypted: first.credentialsEncrypted,
    };
    await expect(companyDatabaseUrl(t.ctx, forged)).rejects.toThrow(/authenticate/);
    // And not in another column of its own row either.
    expect(() => t.ctx.box.open(first.credentialsEncrypted!, sealedAt.companyDatabaseUrl(first.id))).toThrow();
    // Where it belongs, it opens.
    await expect(companyDatabaseUrl(t.ctx, first)).resolves.toContain(first.databaseName!);
  });

  it('in the earlier format keeps working, and is re-sealed bound to its row on the next start', async () => {
    const row = await rowOf('older');
    const password = t.ctx.box.open(row.credentialsEncrypted!, sealedAt.companyCredentials(row.id));
    const v1 = sealV1(resolveSecrets(t.config).masterKey, password);
    await t.ctx.db.update(companies).set({ credentialsEncrypted: v1 }).where(eq(companies.id, row.id));
    await t.ctx.tenants.companyChanged(row.id);
    expect((await login('older')).status).toBe(200);

    const restarted = await openSilo(t.config, { logDestination: { write: () => {} } });
    await restarted.close();
    const after = await rowOf('older');
    expect(after.credentialsEncrypted).not.toBe(v1);
    expect(isCurrentFormat(after.credentialsEncrypted!)).toBe(true);
    expect(t.ctx.box.open(after.credentialsEncrypted!, sealedAt.companyCredentials(row.id))).toBe(password);
    await t.ctx.tenants.companyChanged(row.id);
    expect((await login('older')).status).toBe(200);
  });
});
