// Company users log in against their own company's database (through the pool map). The same null,
// and about the same time, for an unknown company, an unknown email and a wrong password.
import { eq, sql as dsql } from 'drizzle-orm';
import { burnPasswordCheck, verifyPassword } from '../auth/passwords.ts';
import type { SiloContext } from '../context.ts';
import { SiloError } from '../errors.ts';
import { writesHeld } from '../scale-out/write-hold.ts';
import type { CompanyRecord } from '../tenancy/tenants.ts';
import { users } from '../tenant/schema.ts';
import { findCompany } from './company-records.ts';

export interface CompanyUser {
  id: string;
  email: string;
  name: string | null;
  role: 'company_admin' | 'member';
}

const servable = (company: CompanyRecord | undefined): company is CompanyRecord =>
  company !== undefined && (company.status === 'active' || company.status === 'suspended');

export async function authenticateCompanyUser(
  ctx: SiloContext,
  companyRef: string,
  email: string,
  password: string,
): Promise<{ company: CompanyRecord; user: CompanyUser } | null> {
  const company = await findCompany(ctx, companyRef);
  if (!servable(company)) return burnPasswordCheck(password).then(() => null);
  const user = await ctx.tenants.run(company, async (db) => {
    const [found] = await db
      .select()
      .from(users)
      .where(eq(dsql`lower(${users.email})`, email.toLowerCase()));
    if (!found) return burnPasswordCheck(password).then(() => null);
    if (!(await verifyPassword(password, found.passwordHash))) return null;
    // A company being moved takes no writes: the login works, its time is not recorded.
    if (!writesHeld(company)) await db.update(users).set({ lastLoginAt: dsql`now()` }).where(eq(users.id, found.id));
    return { id: found.id, email: found.email, name: found.name, role: found.role };
  });
  if (!user) return null;
  // Only someone who knows the password learns that the company is suspended.
  if (company.status === 'suspended') throw new SiloError('company_suspended', 'the company is suspended');
  return { company, user };
}
