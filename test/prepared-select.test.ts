// The hottest reads (a document, a user by id) are sent by postgres.js itself on a tenant pool and
// decoded with the columns' own mapping (src/data-plane/prepared.ts), and through drizzle anywhere
// else (a transaction). Both paths must answer the same rows, for awkward values too, and the pool
// path must keep each company to its own database when many requests run at once.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction } from '../src/base/db/transaction.ts';
import { getDocument } from '../src/data-plane/company-plane/documents.ts';
import { findUser, findUserRole } from '../src/data-plane/company-plane/users.ts';
import type { TenantDb } from '../src/data-plane/pool-map.ts';
import { documents } from '../src/data-plane/schema.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
const companies: Record<string, { id: string; adminId: string; token: string }> = {};

async function provision(slug: string) {
  const admin = { email: `admin@${slug}.test`, password: 'admin-password' };
  const created = await t.call('POST', '/api/companies', { token: t.adminToken, body: { name: slug, slug, admin } });
  expect(created.status).toBe(201);
  const login = await t.call('POST', '/api/auth/login', { token: null, body: { ...admin, company: slug } });
  expect(login.status).toBe(200);
  companies[slug] = { id: created.body.id, adminId: login.body.user.id, token: login.body.token };
}

async function inTenant<T>(slug: string, work: (db: TenantDb) => Promise<T>): Promise<T> {
  const company = await t.ctx.tenants.company(companies[slug]!.id);
  return t.ctx.tenants.run(company!, work);
}

beforeAll(async () => {
  t = await createTestSilo();
  await Promise.all([provision('prep-a'), provision('prep-b')]);
});

afterAll(async () => {
  await t?.close();
});

describe('prepared hot reads', () => {
  it('answer the same document through the pool and through drizzle in a transaction, awkward values included', async () => {
    const [doc] = await inTenant('prep-a', (db) =>
      db
        .insert(documents)
        .values({
          title: 'Ünïcödé, "quotes" and {braces}',
          content: '',
          tags: ['a,b', 'with "quote"', 'NULL', '{x}', 'ü'],
          metadata: { nested: { list: [1, null, 'x'] }, empty: {}, flag: false },
          createdBy: null,
          // Microseconds the ISO form cannot hold: both paths must round them the same way.
          createdAt: sql`'2026-01-02 03:04:05.678912+00'::timestamptz` as unknown as Date,
        })
        .returning({ id: documents.id }),
    );
    const pooled = await inTenant('prep-a', (db) => getDocument(db, doc!.id));
    const viaDrizzle = await inTenant('prep-a', (db) => inTransaction(db, (tx) => getDocument(tx, doc!.id)));
    expect(pooled).toEqual(viaDrizzle);
    expect(pooled).toMatchObject({
      title: 'Ünïcödé, "quotes" and {braces}',
      content: '',
      tags: ['a,b', 'with "quote"', 'NULL', '{x}', 'ü'],
      metadata: { nested: { list: [1, null, 'x'] }, empty: {}, flag: false },
      createdBy: null,
      createdAt: '2026-01-02T03:04:05.679Z',
    });
    const res = await t.call('GET', `/api/documents/${doc!.id}`, { token: companies['prep-a']!.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(pooled);
  });

  it('answer the same user, and nothing for an id that is not there, on both paths', async () => {
    const { adminId } = companies['prep-a']!;
    const pooled = await inTenant('prep-a', (db) => findUser(db, adminId));
    const viaDrizzle = await inTenant('prep-a', (db) => inTransaction(db, (tx) => findUser(tx, adminId)));
    expect(pooled).toEqual(viaDrizzle);
    expect(pooled).toMatchObject({ id: adminId, email: 'admin@prep-a.test', role: 'company_admin' });
    const missing = '00000000-0000-4000-8000-000000000000';
    expect(await inTenant('prep-a', (db) => findUserRole(db, missing))).toBeNull();
    expect(await inTenant('prep-a', (db) => inTransaction(db, (tx) => findUserRole(tx, missing)))).toBeNull();
    const res = await t.call('GET', `/api/documents/${missing}`, { token: companies['prep-a']!.token });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });

  it('keep each company to its own rows with 32 reads at once over two companies', async () => {
    const titles: Record<string, string> = {};
    const ids: Record<string, string> = {};
    for (const slug of ['prep-a', 'prep-b']) {
      const created = await t.call('POST', '/api/documents', {
        token: companies[slug]!.token,
        body: { title: `only in ${slug}`, content: 'x' },
      });
      expect(created.status).toBe(201);
      ids[slug] = created.body.id;
      titles[slug] = created.body.title;
    }
    const reads = Array.from({ length: 32 }, (_, i) => {
      const own = i % 2 === 0 ? 'prep-a' : 'prep-b';
      const other = own === 'prep-a' ? 'prep-b' : 'prep-a';
      // Every fourth read asks for the other company's document with its own token.
      const id = i % 4 < 2 ? ids[own]! : ids[other]!;
      return t.call('GET', `/api/documents/${id}`, { token: companies[own]!.token }).then((res) => ({ own, id, other, res }));
    });
    for (const { own, id, res } of await Promise.all(reads)) {
      if (id === ids[own]) {
        expect(res.status).toBe(200);
        expect(res.body.title).toBe(titles[own]);
      } else {
        expect(res.status).toBe(404);
      }
    }
  });
});
