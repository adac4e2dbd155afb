// Dropping a tenant's database and role: used by delete, by the saga's undo and by reconcile.
import type { Sql } from 'postgres';
import type { SiloContext } from '../../context.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';
import { neonProjectName, neonServer } from '../../providers/neon/servers.ts';
import { openPostgresJs } from '../../data-plane/company-database.ts';
import { quoteIdent, tenantNames, type TenantNames } from '../../base/names.ts';
import { sealedAt } from '../../base/crypto/credentials.ts';

/** Drops what exists of a tenant's database and role; `which` limits it to what a saga created. */
export async function dropTenantDatabase(
  admin: Sql,
  names: TenantNames,
  which: { database: boolean; role: boolean } = { database: true, role: true },
): Promise<void> {
  // WITH (FORCE) ends the tenant's own sessions first (Postgres 13+).
  if (which.database) await admin.unsafe(`drop database if exists ${quoteIdent(names.database)} with (force)`);
  if (which.role) await admin.unsafe(`drop role if exists ${quoteIdent(names.role)}`);
}

/**
 * Removes a company's database, as its provider does: a postgres server's database and role are
 * dropped, a Neon project deleted. An external database is someone else's: it is left alone
 * (detached) unless `dropExternal`, and then dropped as its own login, which must own it.
 * Answers what happened.
 */
export async function removeCompanyDatabase(
  ctx: SiloContext,
  company: CompanyRow,
  options: { dropExternal?: boolean } = {},
): Promise<'dropped' | 'detached' | 'none'> {
  if (company.provider === 'neon') {
    if (!company.serverId) return 'none';
    const { api, settings } = await neonServer(ctx, company.serverId);
    if (company.providerRef) await api.deleteProject(company.providerRef);
    // No id recorded: a create whose answer never arrived; its project, if any, has Silo's name.
    else if ((await api.deleteProjectsNamed(neonProjectName(ctx, company.slug), settings.orgId)) === 0) return 'none';
    return 'dropped';
  }
  if (company.provider === 'external') {
    if (!options.dropExternal || !company.databaseUrlEncrypted || !company.databaseName) return 'detached';
    // DROP DATABASE runs from another database on the same server: the maintenance one.
    const url = new URL(ctx.box.open(company.databaseUrlEncrypted, sealedAt.companyDatabaseUrl(company.id)));
    url.pathname = '/postgres';
    const sql = openPostgresJs(url.toString());
    try {
      await sql.unsafe(`drop database if exists ${quoteIdent(company.databaseName)} with (force)`);
    } finally {
      await sql.end({ timeout: 2 });
    }
    return 'dropped';
  }
  if (!company.serverId) return 'none';
  // The row's names (a company made before names were opaque has slug-based ones).
  const names =
    company.databaseName && company.roleName
      ? { database: company.databaseName, role: company.roleName }
      : tenantNames(ctx.config.dbPrefix, company);
  await dropTenantDatabase(await ctx.servers.admin(company.serverId), names);
  return 'dropped';
}
