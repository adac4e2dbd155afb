// Routes a company user's request to that company's database. The company comes from the token's
// `cid` claim and nothing else: no header, path or body can choose another. Handlers read the
// typed tenant database from the context (`c.get('tenant')`).
import type { MiddlewareHandler } from 'hono';
import { isCompanyRole, type TokenClaims } from '../../auth/tokens.ts';
import type { SiloContext } from '../../context.ts';
import { SiloError } from '../../errors.ts';
import { findUserRole } from '../../company-plane/users.ts';
import { ensureCompanyCurrent } from '../../migrations/company-migrations.ts';
import { assertWritesAllowed, writesHeld } from '../../scale-out/write-hold.ts';
import type { CompanyRecord } from '../../tenancy/tenants.ts';
import type { AppEnv } from '../env.ts';

/** The token's company, if it may be served now: deleted -> 401, suspended or archived -> 403. */
export async function tokenCompany(ctx: SiloContext, auth: TokenClaims): Promise<CompanyRecord> {
  if (!auth.cid) throw new SiloError('forbidden', 'this route is for company users');
  const company = await ctx.tenants.company(auth.cid);
  if (company?.status === 'archived') {
    throw new SiloError('company_suspended', 'the company is archived', { status: 'archived' });
  }
  if (!company || (company.status !== 'active' && company.status !== 'suspended')) {
    throw new SiloError('unauthorized', 'the company of this token no longer exists');
  }
  if (company.status === 'suspended') throw new SiloError('company_suspended', 'the company is suspended');
  return company;
}

export function requireTenant(ctx: SiloContext): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const company = await tokenCompany(ctx, c.get('auth'));
    // A company being moved serves reads from its old database and refuses writes (503, Retry-After).
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') assertWritesAllowed(company);
    // A company left behind by an upgrade is migrated before it is served (not while it is moved).
    // The version is compared here first so that a current company's request awaits nothing for it.
    if (company.schemaVersion !== ctx.tenantMigrations.latest && !writesHeld(company)) await ensureCompanyCurrent(ctx, company);
    const auth = c.get('auth');
    await ctx.tenants.run(company, async (db) => {
      // The token's user must still exist, and acts with the role it has now, not the one the
      // token was issued with (a demoted admin loses admin rights at once).
      const role = await ctx.tenants.userRole(company.id, auth.sub, async () => (await findUserRole(db, auth.sub)) ?? undefined);
      if (!role) throw new SiloError('unauthorized', 'the user of this token no longer exists');
      // The row is the tenant database owner's to write: any role but a company one ends the token.
      if (!isCompanyRole(role)) {
        ctx.log.warn({ companyId: company.id, userId: auth.sub }, 'refused a token: the user row has a role Silo does not issue');
        throw new SiloError('unauthorized', 'the user of this token has a role Silo does not accept');
      }
      if (role !== auth.role) c.set('auth', { ...auth, role });
      c.set('tenant', { company, db });
      await next();
    });
  };
}
