// `silo demo` and SILO_DEMO=true: the demo businesses (demo-companies.ts), created through the same
// saga and company-plane services as the API's. Idempotent item by item: a company, user, document
// or chat session that exists is left as it is, and a run interrupted half-way is completed by the
// next. Only companies this created (features.demo) are touched: a real company that took a demo
// slug is reported and left alone. Passwords are generated per user and returned once, for the
// caller to print; they are never logged.
import { and, eq } from 'drizzle-orm';
import { generatePassword } from '../../base/auth/passwords.ts';
import type { SiloContext } from '../../context.ts';
import { findLiveCompanyBySlug, isServable } from '../../control-plane/company-records.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';
import { createSession, postMessage } from '../../data-plane/company-plane/chat.ts';
import { createDocument } from '../../data-plane/company-plane/documents.ts';
import { createUser, findUserRowByEmail } from '../../data-plane/company-plane/users.ts';
import type { TenantDb } from '../../data-plane/pool-map.ts';
import { chatSessions, documents } from '../../data-plane/schema.ts';
import { provisionCompany } from '../provisioning/provision-company.ts';
import { DEMO_COMPANIES, type DemoCompany } from './demo-companies.ts';

export interface DemoLogin {
  email: string;
  role: 'company_admin' | 'member';
  /** Only for a user this run created; an existing user keeps the password it had. */
  password?: string;
}

export interface DemoOutcome {
  slug: string;
  name: string;
  /** created: the company is new; completed: it existed and this run added what it lacked. */
  outcome: 'created' | 'completed' | 'unchanged' | 'skipped';
  /** Why a company was skipped. */
  reason?: string;
  logins: DemoLogin[];
}

const PASSWORD_BYTES = 12;

/** Users, documents and the chat session the company lacks. Answers the logins it created. */
async function seed(db: TenantDb, company: CompanyRow, demo: DemoCompany): Promise<{ logins: DemoLogin[]; added: number }> {
  const logins: DemoLogin[] = [];
  let added = 0;
  for (const user of demo.users.slice(1)) {
    if (await findUserRowByEmail(db, user.email)) continue;
    const password = generatePassword(PASSWORD_BYTES);
    await createUser(db, company.maxUsers, { ...user, password });
    logins.push({ email: user.email, role: user.role, password });
    added++;
  }
  // Documents and the chat session are the first admin's: without that user (deleted since), none.
  const admin = await findUserRowByEmail(db, demo.users[0].email);
  if (!admin) return { logins, added };
  for (const document of demo.documents) {
    const [found] = await db.select({ id: documents.id }).from(documents).where(eq(documents.title, document.title));
    if (found) continue;
    await createDocument(db, admin.id, document);
    added++;
  }
  const [session] = await db
    .select({ id: chatSessions.id })
    .from(chatSessions)
    .where(and(eq(chatSessions.userId, admin.id), eq(chatSessions.title, demo.chat.title)));
  if (!session) {
    const created = await createSession(db, admin.id, { title: demo.chat.title });
    for (const message of demo.chat.messages) await postMessage(db, admin.id, created.id, message);
    added++;
  }
  return { logins, added };
}

async function ensureOne(ctx: SiloContext, demo: DemoCompany, actor: string): Promise<DemoOutcome> {
  const result: DemoOutcome = { slug: demo.slug, name: demo.name, outcome: 'unchanged', logins: [] };
  let company = await findLiveCompanyBySlug(ctx, demo.slug);
  if (company && company.status !== 'failed') {
    if (company.features.demo !== true)
      return { ...result, outcome: 'skipped', reason: 'the slug belongs to a company that is not a demo' };
    if (!isServable(company)) return { ...result, outcome: 'skipped', reason: `the company is ${company.status}` };
  } else {
    const [first] = demo.users;
    const password = generatePassword(PASSWORD_BYTES);
    const created = await provisionCompany(
      ctx,
      {
        name: demo.name,
        slug: demo.slug,
        maxUsers: demo.maxUsers,
        features: { ...demo.features, demo: true },
        admin: { email: first.email, name: first.name, password },
      },
      actor,
    );
    company = created.company;
    result.outcome = 'created';
    result.logins.push({ email: first.email, role: first.role, password });
  }
  const seeded = await ctx.tenants.run(company, (db) => seed(db, company, demo));
  result.logins.push(...seeded.logins);
  if (result.outcome === 'unchanged' && seeded.added > 0) result.outcome = 'completed';
  return result;
}

/** Creates (or completes) every demo company, one after another. */
export async function ensureDemoCompanies(ctx: SiloContext, actor = 'demo'): Promise<DemoOutcome[]> {
  const outcomes: DemoOutcome[] = [];
  for (const demo of DEMO_COMPANIES) outcomes.push(await ensureOne(ctx, demo, actor));
  return outcomes;
}

/** The logins as lines for a terminal: the one place their passwords are shown. */
export function demoLoginLines(outcomes: DemoOutcome[]): string[] {
  const lines: string[] = [];
  for (const o of outcomes) {
    lines.push(`${o.slug} (${o.name}): ${o.outcome}${o.reason ? ` (${o.reason})` : ''}`);
    for (const login of o.logins) lines.push(`  ${login.email}  ${login.role}  password: ${login.password}`);
  }
  return lines;
}
