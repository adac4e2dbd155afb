// Company users log in against their own company's database (through the pool map). The same null,
// and about the same time, for an unknown company, an unknown email and a wrong password.
import { eq, sql as dsql } from 'drizzle-orm';
import { burnPasswordCheck, verifyPassword } from '../../base/auth/passwords.ts';
import { type CompanyRole, isCompanyRole, type TokenClaims } from '../../base/auth/tokens.ts';
import { isServable } from '../../control-plane/company-records.ts';
import type { SiloContext } from '../../context.ts';
import { SiloError } from '../../base/errors.ts';
import { writesHeld } from '../write-hold.ts';
import { users } from '../schema.ts';
import { findUserRowByEmail } from './users.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';

export interface CompanyUser {
  id: string;
  email: string;
  name: string | null;
  role: CompanyRole;
}

const archivedCompany = () => new SiloError('company_suspended', 'the company is archived', { status: 'archived' });

export async function authenticateCompanyUser(
  ctx: SiloContext,
  company: CompanyRow | undefined,
  email: string,
  password: string,
): Promise<{ company: CompanyRow; user: CompanyUser } | null> {
  // An archived company's users are in its archive, not in a database: no password can be checked,
  // and every login answers what its users' requests answer (the slug is no secret; the 403 tells
  // nothing about any account).
  if (company?.status === 'archived') {
    await burnPasswordCheck(password);
    throw archivedCompany();
  }
  // Only a servable company's users may log in (a suspended one's get 403 for the right password).
  if (!isServable(company)) return burnPasswordCheck(password).then(() => null);
  // Only the row is read with the pool; the password is checked after it is handed back, so that a
  // flood of logins waiting for bcrypt holds no pool (and cannot pin it against eviction).
  const found = await ctx.tenants.run(company, (db) => findUserRowByEmail(db, email));
  if (!found) return burnPasswordCheck(password).then(() => null);
  if (!(await verifyPassword(password, found.passwordHash))) return null;
  // The row is the tenant database owner's to write (a bring-your-own database belongs to its
  // customer): a role Silo does not issue, such as system_admin, never reaches a token.
  if (!isCompanyRole(found.role)) {
    ctx.log.warn({ companyId: company.id, userId: found.id }, 'refused a login: the user row has a role Silo does not issue');
    throw new SiloError('forbidden', 'this user has a role Silo does not accept; a company admin must set company_admin or member');
  }
  // Only someone who knows the password learns that the company is suspended.
  if (company.status === 'suspended') throw new SiloError('company_suspended', 'the company is suspended');
  // A company being moved takes no writes: the login works, its time is not recorded.
  if (!writesHeld(company)) {
    await ctx.tenants.run(company, (db) => db.update(users).set({ lastLoginAt: dsql`now()` }).where(eq(users.id, found.id)));
  }
  return { company, user: { id: found.id, email: found.email, name: found.name, role: found.role } };
}

/** The token's company, if it may be served now: deleted -> 401, suspended or archived -> 403. */
export async function tokenCompany(ctx: SiloContext, auth: TokenClaims): Promise<CompanyRow> {
  if (!auth.cid) throw new SiloError('forbidden', 'this route is for company users');
  const company = await ctx.tenants.company(auth.cid);
  if (company?.status === 'archived') throw archivedCompany();
  if (!isServable(company)) {
    throw new SiloError('unauthorized', 'the company of this token no longer exists');
  }
  if (company.status === 'suspended') throw new SiloError('company_suspended', 'the company is suspended');
  return company;
}
