// Every operation that /openapi.json says needs a token refuses a request without one (401), and
// one with the token of a user whose role the operation is not for (403), in the contract's error
// shape. Walks the served document, so an operation added later is checked without a new test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument, type Operation } from './support/openapi-document.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
let companyAdminToken: string;
let operations: Operation[];

beforeAll(async () => {
  t = await createTestSilo();
  const admin = { email: 'owner@sec.test', password: 'owner-password-1' };
  expect((await t.call('POST', '/api/companies', { token: t.adminToken, body: { name: 'Sec Co', slug: 'sec-co', admin } })).status).toBe(
    201,
  );
  const login = await t.call('POST', '/api/auth/login', { token: null, body: { ...admin, company: 'sec-co' } });
  companyAdminToken = login.body.token;
  operations = openApiDocument((await t.call('GET', '/openapi.json', { token: null })).body).operations;
});
afterAll(async () => {
  await t?.close();
});

/** Who may call an operation, by its tag: the wrong role is the other kind of user. */
const audience: Record<string, 'system_admin' | 'company_user' | 'anyone_signed_in'> = {
  companies: 'system_admin',
  servers: 'system_admin',
  backups: 'system_admin',
  system: 'system_admin',
  fleet: 'system_admin',
  shared: 'system_admin',
  users: 'company_user',
  documents: 'company_user',
  chat: 'company_user',
  health: 'company_user',
  invitations: 'company_user',
  sql: 'company_user',
  templates: 'company_user',
  auth: 'anyone_signed_in',
};

const secured = () => operations.filter((op) => (op.spec.security ?? []).length > 0);

/** The operation's path with each parameter filled in: an existing company, any uuid. */
const concrete = (op: Operation) =>
  op.path.replace(/\{(\w+)\}/g, (_all, name: string) => (name === 'company' ? 'sec-co' : '00000000-0000-4000-8000-000000000000'));

const errorShape = (code: string) => ({ error: { code, message: expect.any(String) } });

describe('every secured operation in /openapi.json', () => {
  it('is one the document describes, with an audience this test knows', () => {
    expect(secured().length).toBeGreaterThan(20);
    for (const op of secured()) {
      const tag = op.spec.tags?.[0] as string;
      expect(audience[tag], `${op.method} ${op.path} has tag ${tag}`).toBeDefined();
    }
    // Only logging out and asking who one is are open to both kinds of user.
    const anyone = secured().filter((op) => audience[op.spec.tags[0]] === 'anyone_signed_in');
    expect(anyone.map((op) => op.operationId).sort()).toEqual(['getMe', 'logout']);
  });

  it('refuses a request without a token with 401', async () => {
    const wrong: string[] = [];
    for (const op of secured()) {
      const res = await t.call(op.method, concrete(op), { token: null });
      if (res.status !== 401 || res.body?.error?.code !== 'unauthorized') wrong.push(`${op.method} ${op.path}: ${res.status}`);
      else expect(res.body).toEqual(errorShape('unauthorized'));
    }
    expect(wrong).toEqual([]);
  });

  it("refuses the other kind of user's token with 403", async () => {
    const wrong: string[] = [];
    for (const op of secured()) {
      const who = audience[op.spec.tags[0]];
      if (who === 'anyone_signed_in') continue;
      const token = who === 'system_admin' ? companyAdminToken : t.adminToken;
      const res = await t.call(op.method, concrete(op), { token });
      if (res.status !== 403 || res.body?.error?.code !== 'forbidden') wrong.push(`${op.method} ${op.path}: ${res.status}`);
    }
    expect(wrong).toEqual([]);
  });
});
