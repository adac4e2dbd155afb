// Routes a company user's request to that company's database. The company comes from the token's
// `cid` claim and nothing else: no header, path or body can choose another. Handlers read the
// typed tenant database from the context (`c.get('tenant')`).
import type { Context, MiddlewareHandler, Next } from 'hono';
import { companyRoles, isCompanyRole, type TokenClaims } from '../../base/auth/tokens.ts';
import type { SiloContext } from '../../context.ts';
import { SiloError } from '../../base/errors.ts';
import { findUserRole } from '../../data-plane/company-plane/users.ts';
import { tokenCompany } from '../../data-plane/company-plane/company-auth.ts';
import { ensureCompanyCurrent } from '../../operations/migrations/company-migrations.ts';
import { assertWritesAllowed, writesHeld } from '../../data-plane/write-hold.ts';
import type { AppEnv } from '../env.ts';
import { authenticateRequest } from './auth.ts';

/**
 * A company user's bearer token (requireAuth for the company roles), then the company's database:
 * one middleware rather than two, as every company-plane request passes both (one step of Hono's
 * chain and its promise fewer per request).
 */
export function requireCompanyUser(ctx: SiloContext): MiddlewareHandler<AppEnv> {
  return async (c, next) => serveTenant(ctx, c, await authenticateRequest(ctx, c, companyRoles), next);
}

async function serveTenant(ctx: SiloContext, c: Context<AppEnv>, auth: TokenClaims, next: Next): Promise<void> {
  const company = await tokenCompany(ctx, auth);
  // A company being moved serves reads from its old database and refuses writes (503, Retry-After).
  if (c.req.method !== 'GET' && c.req.method !== 'HEAD') assertWritesAllowed(company);
  // A company left behind by an upgrade is migrated before it is served (not while it is moved).
  // The version is compared here first so that a current company's request awaits nothing for it.
  if (company.schemaVersion !== ctx.tenantMigrations.latest && !writesHeld(company)) await ensureCompanyCurrent(ctx, company);
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
}
