// Logging in, for both kinds of user, and who a token's user is. A system admin is checked against
// the management database; a company user against its own company's database. Every attempt counts
// towards the login limits before its password is checked, and the number of logins in progress is
// bounded (docs/security.md has the limits and why).
import type { LoginGate } from '../base/auth/login-gate.ts';
import type { IssuedToken, Role, TokenClaims } from '../base/auth/tokens.ts';
import { SiloError } from '../base/errors.ts';
import type { SiloContext } from '../context.ts';
import { findCompany } from '../control-plane/company-records.ts';
import type { SharedLoginLimiter } from '../control-plane/login-attempts.ts';
import type { CompanyRow } from '../control-plane/schema.ts';
import { authenticateSystemAdmin, getSystemAdmin } from '../control-plane/system-users.ts';
import { authenticateCompanyUser, tokenCompany } from '../data-plane/company-plane/company-auth.ts';
import { findUser } from '../data-plane/company-plane/users.ts';

export interface LoginGuards {
  limiter: SharedLoginLimiter;
  gate: LoginGate;
  /** The client's address bucket (addressBucket() in src/http/client-address.ts). */
  address: string;
}

export interface Credentials {
  email: string;
  password: string;
  /** A company's id or slug: a company user's login. Without it, a system admin's. */
  company?: string | undefined;
}

/** Who a token is for, as login and GET /api/auth/me answer it. */
export interface Identity {
  user: { id: string; email: string; name: string | null; role: Role };
  company: { id: string; slug: string; name: string } | null;
}

const invalidCredentials = () => new SiloError('invalid_credentials', 'the email, password or company is not right');

const companyRef = (company: CompanyRow) => ({ id: company.id, slug: company.slug, name: company.name });

/**
 * One login for both kinds of user. Each attempt counts, per account and per client address, before
 * its password is checked; past a limit the answer is 429 with no password check. The account is
 * the company's id (however the client named the company) and the email in lower case.
 */
export async function logIn(
  ctx: SiloContext,
  { limiter, gate, address }: LoginGuards,
  { email, password, company: reference }: Credentials,
): Promise<Identity & { issued: IssuedToken }> {
  const leave = gate.enter();
  let leaveCompany: (() => void) | undefined;
  try {
    const company = reference === undefined ? undefined : await findCompany(ctx, reference);
    if (company) leaveCompany = gate.enterCompany(company.id);
    const companyKey = reference === undefined ? '' : (company?.id ?? `unknown:${reference.toLowerCase()}`);
    const account = `${companyKey}/${email.toLowerCase()}`;
    await limiter.countAttempt(account, address);
    try {
      const result =
        reference === undefined ? await logInSystemAdmin(ctx, email, password) : await logInCompanyUser(ctx, company, email, password);
      await limiter.succeeded(account, address);
      return result;
    } catch (error) {
      // The right password for a suspended company or a refused role: not a guess. (An archived
      // company's logins check no password: they count as attempts.)
      const rightPassword =
        error instanceof SiloError &&
        (error.code === 'company_suspended' || error.code === 'forbidden') &&
        (error.details as { status?: string } | undefined)?.status !== 'archived';
      if (rightPassword) await limiter.succeeded(account, address);
      throw error;
    }
  } finally {
    leaveCompany?.();
    leave();
  }
}

async function logInCompanyUser(ctx: SiloContext, company: CompanyRow | undefined, email: string, password: string) {
  const found = await authenticateCompanyUser(ctx, company, email, password);
  if (!found) throw invalidCredentials();
  const issued = await ctx.tokens.issue({ sub: found.user.id, role: found.user.role, cid: found.company.id });
  return { issued, user: found.user, company: companyRef(found.company) };
}

async function logInSystemAdmin(ctx: SiloContext, email: string, password: string) {
  const admin = await authenticateSystemAdmin(ctx, email, password);
  if (!admin) throw invalidCredentials();
  const issued = await ctx.tokens.issue({ sub: admin.id, role: 'system_admin' });
  return { issued, user: { id: admin.id, email: admin.email, name: admin.name, role: 'system_admin' as const }, company: null };
}

/** The user and company of a verified token; 401 when the user (or its company) is gone. */
export async function whoAmI(ctx: SiloContext, auth: TokenClaims): Promise<Identity> {
  const gone = () => new SiloError('unauthorized', 'the user no longer exists');
  if (auth.role === 'system_admin') {
    const admin = await getSystemAdmin(ctx, auth.sub);
    if (!admin) throw gone();
    return { user: { id: admin.id, email: admin.email, name: admin.name, role: 'system_admin' }, company: null };
  }
  const company = await tokenCompany(ctx, auth);
  const user = await ctx.tenants.run(company, (db) => findUser(db, auth.sub));
  if (!user) throw gone();
  return { user: { id: user.id, email: user.email, name: user.name, role: user.role }, company: companyRef(company) };
}
