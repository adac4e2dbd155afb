// `silo demo`: five demo companies with plans, users, tagged documents and a chat session; their
// logins printed once with generated passwords; a second run changes nothing; each company sees
// only its own data; a real company holding a demo slug is left alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_COMPANIES } from '../src/operations/demo/demo-companies.ts';
import { ensureDemoCompanies } from '../src/operations/demo/demo.ts';
import { cliFor } from './support/cli.ts';
import { companyToken } from './support/company-login.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
let cli: ReturnType<typeof cliFor>;
beforeAll(async () => {
  t = await createTestSilo();
  cli = cliFor(t);
  // A real company took one demo slug before the demo ran.
  const taken = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: 'A real salon', slug: 'salon', admin: { email: 'me@real-salon.test', password: 'real-salon-password' } },
  });
  expect(taken.status).toBe(201);
});
afterAll(async () => {
  await t?.close();
});

interface Printed {
  companies: { slug: string; outcome: string; reason?: string; logins: { email: string; role: string; password?: string }[] }[];
}

/** What each demo company holds, read through the API as its first admin. */
async function contentsOf(slug: string, password: string) {
  const demo = DEMO_COMPANIES.find((d) => d.slug === slug)!;
  const token = await companyToken(t, demo.users[0].email, password, slug);
  const get = async (path: string) => {
    const res = await t.call('GET', path, { token });
    expect(res.status).toBe(200);
    return res.body.items;
  };
  return { token, users: await get('/api/users'), documents: await get('/api/documents'), sessions: await get('/api/chat/sessions') };
}

describe('silo demo', () => {
  let first: Printed;
  const adminPasswords = new Map<string, string>();

  it('creates the demo companies with their plans and prints every login once', async () => {
    const run = await cli('demo', '--json');
    expect(run.code).toBe(0);
    first = JSON.parse(run.stdout);
    const bySlug = new Map(first.companies.map((c) => [c.slug, c]));
    for (const demo of DEMO_COMPANIES.filter((d) => d.slug !== 'salon')) {
      const printed = bySlug.get(demo.slug)!;
      expect(printed.outcome).toBe('created');
      expect(printed.logins.map((l) => l.email).sort()).toEqual(demo.users.map((u) => u.email).sort());
      for (const login of printed.logins) expect(login.password).toMatch(/^[\w-]{16}$/);
      adminPasswords.set(demo.slug, printed.logins.find((l) => l.email === demo.users[0].email)!.password!);
      const company = await t.call('GET', `/api/companies/${demo.slug}`, { token: t.adminToken });
      expect(company.body).toMatchObject({
        status: 'active',
        name: demo.name,
        maxUsers: demo.maxUsers,
        features: { ...demo.features, demo: true },
      });
    }
    // The real company's slug: reported, not touched.
    expect(bySlug.get('salon')).toMatchObject({ outcome: 'skipped', logins: [] });
    const real = await contentsOf('salon', 'real-salon-password').catch(() => null);
    expect(real).toBeNull(); // the demo admin does not exist in the real company
    // No password reached the log.
    const passwords = first.companies.flatMap((c) => c.logins.map((l) => l.password!));
    expect(t.logs.filter((line) => passwords.some((p) => line.includes(p)))).toEqual([]);
  });

  it('gives each company only its own users, tagged documents and chat session', async () => {
    const seen = new Map<string, Awaited<ReturnType<typeof contentsOf>>>();
    for (const [slug, password] of adminPasswords) seen.set(slug, await contentsOf(slug, password));
    for (const [slug, contents] of seen) {
      const demo = DEMO_COMPANIES.find((d) => d.slug === slug)!;
      expect(contents.users.map((u: { email: string }) => u.email).sort()).toEqual(demo.users.map((u) => u.email).sort());
      expect(contents.documents.map((d: { title: string }) => d.title).sort()).toEqual(demo.documents.map((d) => d.title).sort());
      for (const document of contents.documents) {
        expect(document.tags).toEqual(demo.documents.find((d) => d.title === document.title)!.tags);
      }
      expect(contents.sessions.map((s: { title: string }) => s.title)).toEqual([demo.chat.title]);
    }
    // Another company's document id is not found with this company's token.
    const techland = seen.get('techland')!;
    const pharmacyDocument = seen.get('pharmacy')!.documents[0].id;
    expect((await t.call('GET', `/api/documents/${pharmacyDocument}`, { token: techland.token })).status).toBe(404);
  });

  it('changes nothing when run again, and shows no password', async () => {
    const before = new Map<string, Awaited<ReturnType<typeof contentsOf>>>();
    for (const [slug, password] of adminPasswords) before.set(slug, await contentsOf(slug, password));
    const run = await cli('demo', '--json');
    expect(run.code).toBe(0);
    const again: Printed = JSON.parse(run.stdout);
    expect(again.companies.map((c) => [c.slug, c.outcome, c.logins.length])).toEqual(
      DEMO_COMPANIES.map((d) => [d.slug, d.slug === 'salon' ? 'skipped' : 'unchanged', 0]),
    );
    for (const [slug, password] of adminPasswords) {
      const after = await contentsOf(slug, password);
      // Logging in to look moves lastLoginAt; nothing else may change.
      const strip = (c: Awaited<ReturnType<typeof contentsOf>>) => ({
        ...c,
        token: undefined,
        users: c.users.map((u: Record<string, unknown>) => ({ ...u, lastLoginAt: undefined })),
      });
      expect(strip(after)).toEqual(strip(before.get(slug)!));
    }
    // The table form says so too.
    const table = await cli('demo');
    expect(table.stdout).toContain('unchanged');
    expect(table.stdout).not.toContain('password');
  });

  it('completes a demo company whose seed was interrupted', async () => {
    const password = adminPasswords.get('mobile')!;
    const token = (await contentsOf('mobile', password)).token;
    const { documents } = await contentsOf('mobile', password);
    expect((await t.call('DELETE', `/api/documents/${documents[0].id}`, { token })).status).toBe(204);
    const outcomes = await ensureDemoCompanies(t.ctx);
    expect(outcomes.find((o) => o.slug === 'mobile')).toMatchObject({ outcome: 'completed', logins: [] });
    expect((await contentsOf('mobile', password)).documents).toHaveLength(3);
  });
});
