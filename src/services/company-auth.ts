// Company users log in against their own company's database. The same null (and about the same
// time) for an unknown company, an unknown email and a wrong password.
import { eq, sql as dsql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { burnPasswordCheck, verifyPassword } from '../auth/passwords.ts';
import type { SiloContext } from '../context.ts';
import { SiloError } from '../errors.ts';
import { users } from '../tenant/schema.ts';
import { findCompany, type CompanyRow } from './company-records.ts';
import { openCompanyDatabase } from './companies.ts';

export interface CompanyUser {
  id: string;
  email: string;
  name: string | null;
  role: 'company_admin' | 'member';
}

async function withTenant<T>(ctx: SiloContext, company: CompanyRow, run: (db: ReturnType<typeof drizzle>) => Promise<T>) {
  const sql = await openCompanyDatabase(ctx, company);
  try {
    return await run(drizzle(sql));
  } catch (error) {
    const code = String((error as { code?: unknown }).code ?? '');
    if (/^(ECONN|CONNECT_TIMEOUT|08)/.test(code)) throw new SiloError('unavailable', 'the company database cannot be reached');
    throw error;
  } finally {
    await sql.end({ timeout: 2 });
  }
}

export async function authenticateCompanyUser(
  ctx: SiloContext,
  companyRef: string,
  email: string,
  password: string,
): Promise<{ company: CompanyRow; user: CompanyUser } | null> {
  const company = await findCompany(ctx, companyRef);
  if (!company || !['active', 'suspended'].includes(company.status)) return burnPasswordCheck(password).then(() => null);
  const row = await withTenant(ctx, company, async (db) => {
    const [found] = await db.select().from(users).where(eq(dsql`lower(${users.email})`, email.toLowerCase()));
    if (!found) return burnPasswordCheck(password).then(() => null);
    if (!(await verifyPassword(password, found.passwordHash))) return null;
    await db.update(users).set({ lastLoginAt: dsql`now()` }).where(eq(users.id, found.id));
    return found;
  });
  if (!row) return null;
  if (company.status === 'suspended') throw new SiloError('company_suspended', 'the company is suspended');
  return { company, user: { id: row.id, email: row.email, name: row.name, role: row.role } };
}

export async function getCompanyUser(ctx: SiloContext, companyId: string, userId: string) {
  const company = await findCompany(ctx, companyId);
  if (!company || company.status === 'deleted' || company.status === 'failed') return null;
  if (company.status === 'suspended') throw new SiloError('company_suspended', 'the company is suspended');
  const user = await withTenant(ctx, company, async (db) => {
    const [found] = await db
      .select({ id: users.id, email: users.email, name: users.name, role: users.role })
      .from(users)
      .where(eq(users.id, userId));
    return found;
  });
  return user ? { company, user } : null;
}
