// Company-plane writes from many concurrent clients over several companies: users created, deleted,
// promoted and demoted (racing the maxUsers limit and the last-admin rule), documents written and
// removed, chat messages posted. Nothing may answer 5xx, the rules must hold, and every write that
// was acknowledged must be in the company's database afterwards, read back on a connection of
// its own (a write left inside a transaction nobody commits would not be there).
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestSilo, serverUrl, type TestSilo } from './support/test-silo.ts';

const COMPANIES = 3;
const CLIENTS = 24;
const OPS_PER_CLIENT = 40;
const MAX_USERS = 6;
const SEED = Number(process.env.SILO_TEST_SEED ?? 1913);

/** A small seeded generator, so that a failing run can be replayed with SILO_TEST_SEED. */
function mulberry32(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface Company {
  id: string;
  slug: string;
  database: string;
  /** Users whose create (and no delete) was acknowledged, by id, with the role last acknowledged. */
  users: Map<string, string>;
  deletedUsers: Set<string>;
  /** Never deleted nor demoted: writes documents and chat, so that these do not depend on the races. */
  keeper: { id: string; token: string };
  documents: Set<string>;
  deletedDocuments: Set<string>;
  messages: Set<string>;
  sessionId: string;
}

let t: TestSilo;
const companies: Company[] = [];
const tokenByUser = new Map<string, string>();

async function tokenFor(userId: string, companyId: string): Promise<string> {
  let token = tokenByUser.get(userId);
  if (!token) {
    token = (await t.ctx.tokens.issue({ sub: userId, role: 'company_admin', cid: companyId })).token;
    tokenByUser.set(userId, token);
  }
  return token;
}

beforeAll(async () => {
  t = await createTestSilo();
  for (let i = 0; i < COMPANIES; i++) {
    const slug = `busy-${i}`;
    const created = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: slug, slug, maxUsers: MAX_USERS, admin: { email: `boss@${slug}.test`, password: 'boss-password' } },
    });
    expect(created.status).toBe(201);
    const boss = created.body.admin.id as string;
    const bossToken = await tokenFor(boss, created.body.id);
    const keeper = await t.call('POST', '/api/users', {
      token: bossToken,
      body: { email: `keeper@${slug}.test`, role: 'member', password: 'keeper-password' },
    });
    expect(keeper.status).toBe(201);
    const keeperToken = (await t.ctx.tokens.issue({ sub: keeper.body.id, role: 'member', cid: created.body.id })).token;
    const session = await t.call('POST', '/api/chat/sessions', { token: keeperToken, body: { title: 'busy' } });
    expect(session.status).toBe(201);
    companies.push({
      id: created.body.id,
      slug,
      database: created.body.database,
      users: new Map([[boss, 'company_admin']]),
      deletedUsers: new Set(),
      keeper: { id: keeper.body.id, token: keeperToken },
      documents: new Set(),
      deletedDocuments: new Set(),
      messages: new Set(),
      sessionId: session.body.id,
    });
  }
});
afterAll(async () => {
  await t?.close();
});

it(`keeps every rule and every acknowledged write with ${CLIENTS} concurrent clients`, { timeout: 180_000 }, async () => {
  const random = mulberry32(SEED);
  const pick = <T>(items: T[]): T | undefined => items[Math.floor(random() * items.length)];
  const serverErrors: string[] = [];
  let counter = 0;

  async function step(company: Company) {
    const admins = [...company.users].filter(([, role]) => role === 'company_admin').map(([id]) => id);
    const actor = pick(admins);
    const adminToken = actor ? await tokenFor(actor, company.id) : company.keeper.token;
    const target = pick([...company.users.keys()]);
    const roll = random();
    let res: Awaited<ReturnType<TestSilo['call']>>;
    if (roll < 0.2) {
      const role = random() < 0.5 ? 'company_admin' : 'member';
      res = await t.call('POST', '/api/users', {
        token: adminToken,
        body: { email: `u${counter++}@${company.slug}.test`, role, password: 'user-password' },
      });
      if (res.status === 201) company.users.set(res.body.id, role);
    } else if (roll < 0.4 && target) {
      res = await t.call('DELETE', `/api/users/${target}`, { token: adminToken });
      if (res.status === 204) {
        company.users.delete(target);
        company.deletedUsers.add(target);
      }
    } else if (roll < 0.55 && target) {
      const role = random() < 0.5 ? 'company_admin' : 'member';
      res = await t.call('PATCH', `/api/users/${target}`, { token: adminToken, body: { role } });
      if (res.status === 200 && company.users.has(target)) company.users.set(target, role);
    } else if (roll < 0.75) {
      res = await t.call('POST', '/api/documents', {
        token: company.keeper.token,
        body: { title: `doc ${counter++}`, content: 'written under load', tags: ['busy'] },
      });
      if (res.status === 201) company.documents.add(res.body.id);
    } else if (roll < 0.85 && company.documents.size > 0) {
      const id = pick([...company.documents])!;
      res = await t.call('DELETE', `/api/documents/${id}`, { token: company.keeper.token });
      if (res.status === 204) {
        company.documents.delete(id);
        company.deletedDocuments.add(id);
      }
    } else {
      res = await t.call('POST', `/api/chat/sessions/${company.sessionId}/messages`, {
        token: company.keeper.token,
        body: { role: 'user', content: `message ${counter++}` },
      });
      if (res.status === 201) company.messages.add(res.body.id);
    }
    if (res.status >= 500) serverErrors.push(`${res.status} ${res.text}`);
  }

  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      for (let i = 0; i < OPS_PER_CLIENT; i++) await step(companies[(client + i) % COMPANIES]!);
    }),
  );

  expect(serverErrors).toEqual([]);
  expect(t.logs.filter((line) => line.includes('UNSAFE_TRANSACTION'))).toEqual([]);

  for (const company of companies) {
    // Read back as the server's admin, on a connection of its own: only committed rows count.
    const direct = postgres(serverUrl(company.database), { max: 1, onnotice: () => {} });
    try {
      const users = await direct<{ id: string; role: string }[]>`select id, role from users`;
      const ids = new Set(users.map((u) => u.id));
      expect(users.length).toBeLessThanOrEqual(MAX_USERS);
      expect(users.filter((u) => u.role === 'company_admin').length).toBeGreaterThanOrEqual(1);
      for (const id of company.users.keys()) expect(ids.has(id), `user ${id} of ${company.slug}`).toBe(true);
      for (const id of company.deletedUsers) expect(ids.has(id), `deleted user ${id} of ${company.slug}`).toBe(false);

      const documents = new Set((await direct<{ id: string }[]>`select id from documents`).map((d) => d.id));
      for (const id of company.documents) expect(documents.has(id), `document ${id} of ${company.slug}`).toBe(true);
      for (const id of company.deletedDocuments) expect(documents.has(id), `deleted document ${id}`).toBe(false);

      const messages = new Set((await direct<{ id: string }[]>`select id from chat_messages`).map((m) => m.id));
      for (const id of company.messages) expect(messages.has(id), `message ${id} of ${company.slug}`).toBe(true);
    } finally {
      await direct.end();
    }
  }
});
