// The company plane beyond users: invitations (token shown once, stored hashed, single use,
// within maxUsers), documents with full-text search, chat history, and isolation on every route.
import { createHash } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TenantDb } from '../src/data-plane/pool-map.ts';
import { documents, userInvitations } from '../src/data-plane/schema.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
const ids: Record<string, string> = {};
const tokens: Record<string, string> = {};

/** A company (by the system admin), logged in as its first admin. */
async function provision(slug: string, extra: Record<string, unknown> = {}) {
  const admin = { email: `admin@${slug}.test`, password: 'admin-password' };
  const created = await t.call('POST', '/api/companies', { token: t.adminToken, body: { name: slug, slug, admin, ...extra } });
  expect(created.status).toBe(201);
  ids[slug] = created.body.id;
  tokens[slug] = await logIn(slug, admin.email, admin.password);
}

async function logIn(company: string, email: string, password: string): Promise<string> {
  const res = await t.call('POST', '/api/auth/login', { token: null, body: { email, password, company } });
  expect(res.status).toBe(200);
  return res.body.token;
}

/** Runs work on a company's own database, as the tests' back door. */
async function inTenant<T>(slug: string, work: (db: TenantDb) => Promise<T>): Promise<T> {
  const company = await t.ctx.tenants.company(ids[slug]!);
  return t.ctx.tenants.run(company!, (db) => work(db));
}

const invite = (slug: string, email: string, role = 'member') =>
  t.call('POST', '/api/invitations', { token: tokens[slug]!, body: { email, role } });
const accept = (token: string, password = 'joiner-password', name?: string) =>
  t.call('POST', '/api/invitations/accept', { token: null, body: { token, password, ...(name ? { name } : {}) } });
const addDocument = (slug: string, body: Record<string, unknown>) => t.call('POST', '/api/documents', { token: tokens[slug]!, body });
const searchTitles = async (slug: string, query: string) => {
  const res = await t.call('GET', `/api/documents?${query}`, { token: tokens[slug]! });
  expect(res.status).toBe(200);
  return res.body.items.map((d: { title: string }) => d.title);
};

beforeAll(async () => {
  t = await createTestSilo();
  await Promise.all([provision('plane-a'), provision('plane-b'), provision('plane-one', { maxUsers: 1 })]);
  const member = await t.call('POST', '/api/users', {
    token: tokens['plane-a']!,
    body: { email: 'member@plane-a.test', role: 'member', password: 'member-password' },
  });
  expect(member.status).toBe(201);
  tokens.member = await logIn('plane-a', 'member@plane-a.test', 'member-password');
});
afterAll(async () => {
  await t?.close();
});

describe('invitations', () => {
  it('shows the token once, stores only its hash, and lets it be accepted once', async () => {
    const created = await invite('plane-a', 'Joiner@plane-a.test');
    expect(created.status).toBe(201);
    const { id, token, expiresAt } = created.body;
    expect(token.startsWith(`${ids['plane-a']}.`)).toBe(true);
    expect(Buffer.from(token.split('.')[1], 'base64url').length).toBeGreaterThanOrEqual(32);
    const days = (Date.parse(expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.99);
    expect(days).toBeLessThan(7.01);

    const [row] = await inTenant('plane-a', (db) => db.select().from(userInvitations).where(eq(userInvitations.id, id)));
    expect(row!.tokenHash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(JSON.stringify(row)).not.toContain(token.split('.')[1]);

    const list = await t.call('GET', '/api/invitations', { token: tokens['plane-a']! });
    expect(list.status).toBe(200);
    expect(list.body.items.find((i: { id: string }) => i.id === id)).toMatchObject({
      email: 'Joiner@plane-a.test',
      role: 'member',
      status: 'pending',
      acceptedAt: null,
    });
    expect(list.text).not.toContain(token.split('.')[1]);
    expect(list.text).not.toContain(row!.tokenHash);
    expect(list.text).not.toMatch(/token/i);

    const accepted = await accept(token, 'joiner-password', 'Joiner');
    expect(accepted.status).toBe(201);
    expect(accepted.body).toMatchObject({
      user: { email: 'Joiner@plane-a.test', role: 'member', name: 'Joiner' },
      tokenType: 'Bearer',
      company: { id: ids['plane-a'], slug: 'plane-a', name: 'plane-a' },
    });
    const me = await t.call('GET', '/api/auth/me', { token: accepted.body.token });
    expect(me.status).toBe(200);
    expect(me.body.user.id).toBe(accepted.body.user.id);
    expect(await logIn('plane-a', 'joiner@plane-a.test', 'joiner-password')).toBeTruthy();

    const again = await accept(token);
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('not_found');
    const after = await t.call('GET', '/api/invitations', { token: tokens['plane-a']! });
    expect(after.body.items.find((i: { id: string }) => i.id === id)).toMatchObject({ status: 'accepted', acceptedAt: expect.any(String) });
  });

  it('refuses an expired invitation and lists it as expired', async () => {
    const { body } = await invite('plane-a', 'late@plane-a.test');
    await inTenant('plane-a', (db) =>
      db.update(userInvitations).set({ expiresAt: sql`now() - interval '1 minute'` }).where(eq(userInvitations.id, body.id)),
    );
    const res = await accept(body.token);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
    const list = await t.call('GET', '/api/invitations', { token: tokens['plane-a']! });
    expect(list.body.items.find((i: { id: string }) => i.id === body.id).status).toBe('expired');
  });

  it('lets exactly one of two concurrent accepts succeed', async () => {
    const { body } = await invite('plane-a', 'racer@plane-a.test');
    const results = await Promise.all([accept(body.token), accept(body.token)]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 404]);
    const users = await t.call('GET', '/api/users?limit=200', { token: tokens['plane-a']! });
    expect(users.body.items.filter((u: { email: string }) => u.email === 'racer@plane-a.test')).toHaveLength(1);
  });

  it('counts against maxUsers, and a refused accept leaves the invitation open', async () => {
    const { body } = await invite('plane-one', 'second@plane-one.test');
    const res = await accept(body.token);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('limit_exceeded');
    const list = await t.call('GET', '/api/invitations', { token: tokens['plane-one']! });
    expect(list.body.items[0]).toMatchObject({ id: body.id, status: 'pending' });
  });

  it('answers 409 for an email that is, or becomes, a user', async () => {
    const existing = await invite('plane-a', 'MEMBER@plane-a.test');
    expect(existing.status).toBe(409);
    expect(existing.body.error.code).toBe('conflict');

    const { body } = await invite('plane-a', 'direct@plane-a.test');
    await t.call('POST', '/api/users', {
      token: tokens['plane-a']!,
      body: { email: 'direct@plane-a.test', role: 'member', password: 'direct-password' },
    });
    const res = await accept(body.token);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('conflict');
  });

  it('withdraws an invitation, whose token then answers 404', async () => {
    const { body } = await invite('plane-a', 'withdrawn@plane-a.test', 'company_admin');
    expect((await t.call('DELETE', `/api/invitations/${body.id}`, { token: tokens['plane-a']! })).status).toBe(204);
    expect((await t.call('DELETE', `/api/invitations/${body.id}`, { token: tokens['plane-a']! })).status).toBe(404);
    expect((await accept(body.token)).status).toBe(404);
    const bad = await t.call('DELETE', '/api/invitations/not-a-uuid', { token: tokens['plane-a']! });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_failed');
  });

  it('answers the same 404 for malformed tokens and unknown companies', async () => {
    const secret = 'x'.repeat(43);
    for (const token of ['nonsense', `${crypto.randomUUID()}.${secret}`, `${ids['plane-a']}.${secret}`]) {
      const res = await accept(token);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
  });

  it('answers 403 company_suspended to a good token of a suspended company', async () => {
    const { body } = await invite('plane-one', 'suspended@plane-one.test');
    await t.call('PATCH', '/api/companies/plane-one', { token: t.adminToken, body: { status: 'suspended' } });
    try {
      const res = await accept(body.token);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('company_suspended');
      // A bad token learns nothing about the company.
      expect((await accept(`${ids['plane-one']}.${'y'.repeat(43)}`)).status).toBe(404);
    } finally {
      await t.call('PATCH', '/api/companies/plane-one', { token: t.adminToken, body: { status: 'active' } });
    }
  });

  it('is for company_admins only', async () => {
    const member = { token: tokens.member! };
    expect((await t.call('POST', '/api/invitations', { ...member, body: { email: 'x@plane-a.test', role: 'member' } })).status).toBe(403);
    expect((await t.call('GET', '/api/invitations', member)).status).toBe(403);
    const { body } = await invite('plane-a', 'kept@plane-a.test');
    const denied = await t.call('DELETE', `/api/invitations/${body.id}`, member);
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('forbidden');
  });
});

describe('documents', () => {
  it('creates, reads, changes and removes a document, never showing the search column', async () => {
    const me = await t.call('GET', '/api/auth/me', { token: tokens.member! });
    const created = await t.call('POST', '/api/documents', {
      token: tokens.member!,
      body: { title: 'Handbook', content: 'Welcome aboard', tags: ['hr'], metadata: { source: 'wiki' } },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      title: 'Handbook',
      content: 'Welcome aboard',
      tags: ['hr'],
      metadata: { source: 'wiki' },
      createdBy: me.body.user.id,
    });
    expect(created.body.search).toBeUndefined();
    const id = created.body.id;

    const read = await t.call('GET', `/api/documents/${id}`, { token: tokens['plane-a']! });
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created.body);
    // Backdated, so that the change below is later by more than the clock's millisecond.
    await inTenant('plane-a', (db) => db.update(documents).set({ updatedAt: sql`now() - interval '1 hour'` }).where(eq(documents.id, id)));

    const changed = await t.call('PATCH', `/api/documents/${id}`, {
      token: tokens['plane-a']!,
      body: { title: 'Staff handbook', tags: [] },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ title: 'Staff handbook', content: 'Welcome aboard', tags: [], metadata: { source: 'wiki' } });
    expect(Date.parse(changed.body.updatedAt)).toBeGreaterThan(Date.parse(created.body.updatedAt));
    expect(changed.body.search).toBeUndefined();

    expect((await t.call('DELETE', `/api/documents/${id}`, { token: tokens.member! })).status).toBe(204);
    expect((await t.call('GET', `/api/documents/${id}`, { token: tokens.member! })).status).toBe(404);
    expect((await t.call('DELETE', `/api/documents/${id}`, { token: tokens.member! })).status).toBe(404);
    expect((await t.call('PATCH', `/api/documents/${id}`, { token: tokens.member!, body: { title: 'x' } })).status).toBe(404);
  });

  it('validates documents', async () => {
    const bad = [
      { title: '', content: 'c' },
      { title: 't'.repeat(501), content: 'c' },
      { title: 't' },
      { title: 't', content: 'c', tags: Array.from({ length: 51 }, (_, i) => `t${i}`) },
      { title: 't', content: 'c', tags: ['x'.repeat(101)] },
      { title: 't', content: 'c', metadata: ['not', 'an', 'object'] },
      { title: 't', content: 'nul \u0000 byte' },
      { title: 't', content: 'c', metadata: { key: 'nul \u0000 byte' } },
    ];
    for (const body of bad) {
      const res = await addDocument('plane-a', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
    }
    expect((await t.call('GET', '/api/documents/not-a-uuid', { token: tokens['plane-a']! })).status).toBe(400);
    expect((await t.call('PATCH', `/api/documents/${crypto.randomUUID()}`, { token: tokens['plane-a']!, body: {} })).status).toBe(400);
    expect((await t.call('GET', '/api/documents?cursor=bogus', { token: tokens['plane-a']! })).status).toBe(400);
    expect((await t.call('GET', '/api/documents?limit=201', { token: tokens['plane-a']! })).status).toBe(400);
  });

  it('searches titles and content, title matches first, filters by tag', async () => {
    for (const body of [
      { title: 'Notes from the offsite', content: 'We saw a narwhal breaching near the ferry.', tags: ['travel'] },
      { title: 'Narwhal migration report', content: 'Quarterly figures.', tags: ['science', 'travel'] },
      { title: 'Budget', content: 'Nothing about sea creatures here.', tags: ['finance'] },
    ]) {
      expect((await addDocument('plane-a', body)).status).toBe(201);
    }
    expect(await searchTitles('plane-a', 'q=narwhal')).toEqual(['Narwhal migration report', 'Notes from the offsite']);
    expect(await searchTitles('plane-a', 'q=narwhals')).toEqual(['Narwhal migration report', 'Notes from the offsite']);
    expect(await searchTitles('plane-a', 'q=breaching ferry')).toEqual(['Notes from the offsite']);
    expect(await searchTitles('plane-a', `q=${encodeURIComponent('"sea creatures"')}`)).toEqual(['Budget']);
    expect(await searchTitles('plane-a', 'q=narwhal -quarterly')).toEqual(['Notes from the offsite']);
    expect(await searchTitles('plane-a', 'q=the')).toEqual([]);
    expect(await searchTitles('plane-a', 'tag=science')).toEqual(['Narwhal migration report']);
    expect(await searchTitles('plane-a', 'tag=travel&q=ferry')).toEqual(['Notes from the offsite']);
    expect(await searchTitles('plane-a', 'tag=nothing')).toEqual([]);
  });

  it('pages through lists and searches without gaps or repeats', async () => {
    for (let i = 0; i < 7; i++) {
      const title = i < 3 ? `Walrus almanac ${i}` : `Almanac ${i}`;
      const res = await addDocument('plane-a', { title, content: `walrus entry ${i}`, tags: ['paged'] });
      expect(res.status).toBe(201);
      // A minute apart, so that "newest first" does not hang on the clock's resolution.
      await inTenant('plane-a', (db) =>
        db
          .update(documents)
          .set({ createdAt: sql`now() - interval '1 hour' + ${i} * interval '1 minute'` })
          .where(eq(documents.id, res.body.id)),
      );
    }
    const walk = async (query: string) => {
      const seen: { id: string; title: string }[] = [];
      let cursor: string | null = null;
      do {
        const res = await t.call('GET', `/api/documents?${query}&limit=2${cursor ? `&cursor=${cursor}` : ''}`, {
          token: tokens['plane-a']!,
        });
        expect(res.status).toBe(200);
        expect(res.body.items.length).toBeLessThanOrEqual(2);
        for (const item of res.body.items) expect(item).not.toHaveProperty('search');
        seen.push(...res.body.items);
        cursor = res.body.nextCursor;
      } while (cursor);
      return seen;
    };
    const listed = await walk('tag=paged');
    expect(listed.map((d) => d.title)).toEqual([
      'Almanac 6',
      'Almanac 5',
      'Almanac 4',
      'Almanac 3',
      'Walrus almanac 2',
      'Walrus almanac 1',
      'Walrus almanac 0',
    ]);
    const searched = await walk('q=walrus');
    expect(searched.map((d) => d.title)).toEqual([
      'Walrus almanac 2',
      'Walrus almanac 1',
      'Walrus almanac 0',
      'Almanac 6',
      'Almanac 5',
      'Almanac 4',
      'Almanac 3',
    ]);

    const all = await walk('');
    expect(new Set(all.map((d) => d.id)).size).toBe(all.length);
    // A list's cursor is not a search's.
    const first = await t.call('GET', '/api/documents?limit=1', { token: tokens['plane-a']! });
    const mixed = await t.call('GET', `/api/documents?q=walrus&cursor=${first.body.nextCursor}`, { token: tokens['plane-a']! });
    expect(mixed.status).toBe(400);
  });
});

describe('chat', () => {
  it('keeps sessions and their messages, oldest message first', async () => {
    const session = await t.call('POST', '/api/chat/sessions', { token: tokens['plane-a']!, body: { title: 'Planning' } });
    expect(session.status).toBe(201);
    expect(session.body).toMatchObject({ title: 'Planning' });
    const untitled = await t.call('POST', '/api/chat/sessions', { token: tokens['plane-a']!, body: {} });
    expect(untitled.body.title).toBeNull();

    const path = `/api/chat/sessions/${session.body.id}/messages`;
    const contents = ['hello', 'hi, how can I help?', 'plan the offsite', 'sure', 'thanks'];
    for (const [i, content] of contents.entries()) {
      const res = await t.call('POST', path, { token: tokens['plane-a']!, body: { role: i % 2 ? 'assistant' : 'user', content } });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ sessionId: session.body.id, content });
    }
    // Overlapping posts still get distinct, increasing timestamps.
    await Promise.all(
      ['a', 'b', 'c'].map((content) => t.call('POST', path, { token: tokens['plane-a']!, body: { role: 'system', content } })),
    );

    const firstPage = await t.call('GET', `${path}?limit=3`, { token: tokens['plane-a']! });
    expect(firstPage.body.items.map((m: { content: string }) => m.content)).toEqual(contents.slice(0, 3));
    const rest = await t.call('GET', `${path}?cursor=${firstPage.body.nextCursor}`, { token: tokens['plane-a']! });
    expect(rest.body.items.map((m: { content: string }) => m.content).slice(0, 2)).toEqual(contents.slice(3));
    expect(rest.body.items).toHaveLength(5);
    expect(rest.body.nextCursor).toBeNull();
    const stamps = [...firstPage.body.items, ...rest.body.items].map((m: { createdAt: string }) => Date.parse(m.createdAt));
    expect(stamps).toEqual([...stamps].sort((x, y) => x - y));
    expect(new Set(stamps).size).toBe(stamps.length);

    const sessions = await t.call('GET', '/api/chat/sessions', { token: tokens['plane-a']! });
    expect(sessions.body.items.map((s: { id: string }) => s.id).sort()).toEqual([untitled.body.id, session.body.id].sort());
    const bumped = sessions.body.items.find((s: { id: string }) => s.id === session.body.id);
    expect(Date.parse(bumped.updatedAt)).toBeGreaterThan(Date.parse(session.body.updatedAt));

    const invalid = await t.call('POST', path, { token: tokens['plane-a']!, body: { role: 'robot', content: 'x' } });
    expect(invalid.status).toBe(400);
    expect((await t.call('GET', '/api/chat/sessions/not-a-uuid/messages', { token: tokens['plane-a']! })).status).toBe(400);
    expect((await t.call('GET', `/api/chat/sessions/${crypto.randomUUID()}/messages`, { token: tokens['plane-a']! })).status).toBe(404);
  });

  it("answers 404 for another user's session in the same company", async () => {
    const session = await t.call('POST', '/api/chat/sessions', { token: tokens['plane-a']!, body: { title: 'Private' } });
    const path = `/api/chat/sessions/${session.body.id}/messages`;
    await t.call('POST', path, { token: tokens['plane-a']!, body: { role: 'user', content: 'admin only' } });

    const read = await t.call('GET', path, { token: tokens.member! });
    expect(read.status).toBe(404);
    expect(read.body.error.code).toBe('not_found');
    expect((await t.call('POST', path, { token: tokens.member!, body: { role: 'user', content: 'intrusion' } })).status).toBe(404);
    const own = await t.call('GET', '/api/chat/sessions', { token: tokens.member! });
    expect(own.body.items).toEqual([]);
    const messages = await t.call('GET', path, { token: tokens['plane-a']! });
    expect(messages.body.items.map((m: { content: string }) => m.content)).toEqual(['admin only']);
  });
});

describe('isolation', () => {
  const secretWord = 'xylophonist';
  const a: Record<string, string> = {};

  beforeAll(async () => {
    a.document = (await addDocument('plane-a', { title: `The ${secretWord}`, content: `only ${secretWord}s`, tags: ['a-only'] })).body.id;
    a.session = (await t.call('POST', '/api/chat/sessions', { token: tokens['plane-a']!, body: { title: 'A' } })).body.id;
    await t.call('POST', `/api/chat/sessions/${a.session}/messages`, {
      token: tokens['plane-a']!,
      body: { role: 'user', content: secretWord },
    });
    const invitation = (await invite('plane-a', 'isolated@plane-a.test')).body;
    a.invitation = invitation.id;
    a.invitationToken = invitation.token;
    // B has data of its own, so its empty answers are not merely an empty database.
    await addDocument('plane-b', { title: 'B document', content: 'b content', tags: ['b-only'] });
    await t.call('POST', '/api/chat/sessions', { token: tokens['plane-b']!, body: { title: 'B' } });
    await invite('plane-b', 'someone@plane-b.test');
  });

  it("answers 404 to company B for every one of A's ids", async () => {
    const b = { token: tokens['plane-b']! };
    const attempts = [
      t.call('GET', `/api/documents/${a.document}`, b),
      t.call('PATCH', `/api/documents/${a.document}`, { ...b, body: { title: 'stolen' } }),
      t.call('DELETE', `/api/documents/${a.document}`, b),
      t.call('GET', `/api/chat/sessions/${a.session}/messages`, b),
      t.call('POST', `/api/chat/sessions/${a.session}/messages`, { ...b, body: { role: 'user', content: 'intrusion' } }),
      t.call('DELETE', `/api/invitations/${a.invitation}`, b),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    const doc = await t.call('GET', `/api/documents/${a.document}`, { token: tokens['plane-a']! });
    expect(doc.body.title).toBe(`The ${secretWord}`);
    const messages = await t.call('GET', `/api/chat/sessions/${a.session}/messages`, { token: tokens['plane-a']! });
    expect(messages.body.items.map((m: { content: string }) => m.content)).toEqual([secretWord]);
  });

  it("shows B nothing of A's in lists and searches, whatever headers say", async () => {
    for (const headers of [{}, ...['x-tenant-id', 'x-company-id', 'x-company', 'x-app-id'].map((h) => ({ [h]: ids['plane-a']! }))]) {
      const b = { token: tokens['plane-b']!, headers };
      for (const query of [`q=${secretWord}`, `q=${secretWord}s`, 'tag=a-only', 'q=narwhal', 'q=handbook']) {
        const res = await t.call('GET', `/api/documents?${query}`, b);
        expect(res.status).toBe(200);
        expect(res.body.items).toEqual([]);
      }
      const docs = await t.call('GET', '/api/documents?limit=200', b);
      expect(docs.body.items.map((d: { title: string }) => d.title)).toEqual(['B document']);
      const sessions = await t.call('GET', '/api/chat/sessions', b);
      expect(sessions.body.items.map((s: { title: string }) => s.title)).toEqual(['B']);
      const invitations = await t.call('GET', '/api/invitations', b);
      expect(invitations.body.items.map((i: { email: string }) => i.email)).toEqual(['someone@plane-b.test']);
      expect(JSON.stringify([docs.body, sessions.body, invitations.body])).not.toContain(secretWord);
    }
  });

  it("does not accept A's invitation secret under B's company id", async () => {
    const secret = a.invitationToken!.split('.')[1];
    const res = await accept(`${ids['plane-b']}.${secret}`);
    expect(res.status).toBe(404);
    expect((await accept(a.invitationToken!)).status).toBe(201);
  });
});

describe('the OpenAPI document', () => {
  it('documents every company-plane route', async () => {
    const doc = await t.call('GET', '/openapi.json', { token: null });
    expect(doc.status).toBe(200);
    const paths = doc.body.paths;
    expect(Object.keys(paths['/api/invitations']).sort()).toEqual(['get', 'post']);
    expect(Object.keys(paths['/api/invitations/{id}'])).toEqual(['delete']);
    // Public: no token, said explicitly (an operation without `security` would inherit a global one).
    expect(paths['/api/invitations/accept'].post.security).toEqual([]);
    expect(Object.keys(paths['/api/documents']).sort()).toEqual(['get', 'post']);
    expect(Object.keys(paths['/api/documents/{id}']).sort()).toEqual(['delete', 'get', 'patch']);
    expect(Object.keys(paths['/api/chat/sessions']).sort()).toEqual(['get', 'post']);
    expect(Object.keys(paths['/api/chat/sessions/{id}/messages']).sort()).toEqual(['get', 'post']);
    expect(JSON.stringify(doc.body.components.schemas.Document)).not.toContain('search');
  });
});

describe('errors', () => {
  it('answered nothing in this file with an unhandled error', () => {
    expect(t.logs.filter((line) => line.includes('unhandled error'))).toEqual([]);
  });
});
