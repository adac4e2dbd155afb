// The first part of a move: the checks that a company can move to a server, its schema brought to
// the latest version (the target is cloned from the template, which is at the latest), leftovers
// of an earlier failed move of it removed from that server, and the claim (move-claim.ts).
import { eq } from 'drizzle-orm';
import { conflict, describeError, isConnectionError, unavailable } from '../../base/errors.ts';
import type { SiloContext } from '../../context.ts';
import { getCompany, isServable } from '../../control-plane/company-records.ts';
import { type CompanyRow, databaseServers } from '../../control-plane/schema.ts';
import { migrateCompanyOnRequest } from '../migrations/company-migrations.ts';
import { openLeftovers, removeLeftover } from './leftovers.ts';
import { claimMove, type MoveClaim, refuseTarget } from './move-claim.ts';

export interface PreparedMove {
  company: CompanyRow;
  claim: MoveClaim;
}

/**
 * Checks that the company can move to the server and claims it. A company behind the latest tenant
 * schema is migrated first (its next request would do the same), so that the target can be cloned
 * from its template. Removes what an earlier failed move of it left on that server.
 */
export async function prepareMove(ctx: SiloContext, idOrSlug: string, to: string, actor: string): Promise<PreparedMove> {
  let company = await getCompany(ctx, idOrSlug);
  if (!isServable(company)) {
    throw conflict(`a ${company.status} company has no database to move`);
  }
  if (company.provider !== 'postgres') {
    throw conflict(
      `Silo moves databases between postgres servers; this company's database is ${company.provider === 'neon' ? 'a Neon project' : 'an external one'} and stays where it is`,
    );
  }
  if (!company.serverId || !company.databaseName || !company.roleName || !company.credentialsEncrypted) {
    throw conflict('the company has no database to move');
  }
  const [server] = await ctx.db.select().from(databaseServers).where(eq(databaseServers.id, to));
  refuseTarget(company, server);
  if (company.schemaVersion !== ctx.tenantMigrations.latest) {
    const migrated = await migrateCompanyOnRequest(ctx, company, { actor });
    if (migrated.status === 'failed') {
      throw conflict(`the company must be on the latest tenant schema to move; migrating it failed at ${migrated.failedMigration}`, {
        error: migrated.error,
      });
    }
    company = await getCompany(ctx, company.id);
    if (company.schemaVersion !== ctx.tenantMigrations.latest) {
      throw conflict(`the company is on schema ${company.schemaVersion}, not the latest this Silo knows (${ctx.tenantMigrations.latest})`);
    }
  }
  for (const leftover of await openLeftovers(ctx, { companyId: company.id, serverId: to })) {
    try {
      await removeLeftover(ctx, leftover);
    } catch (error) {
      if (isConnectionError(error)) throw unavailable('the target database server cannot be reached');
      throw conflict('the target still holds a database left by an earlier move of this company; see "silo reconcile"', {
        error: describeError(error),
      });
    }
  }
  return { company, claim: await claimMove(ctx, company, to) };
}
