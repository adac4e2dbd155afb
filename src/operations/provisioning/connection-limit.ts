// Every tenant role Silo creates has a CONNECTION LIMIT (SILO_TENANT_CONNECTION_LIMIT), so that one
// company (its own pools, or someone holding its credentials) cannot take a whole server's
// max_connections. New roles get it in CREATE ROLE; roles made before it existed, or under another
// limit, get it when a server starts (see docs/security-database.md).
import type { SiloContext } from '../../context.ts';
import { describeError } from '../../base/errors.ts';
import { quoteIdent, tenantNamePattern } from '../../base/names.ts';

/** The clause for CREATE ROLE / ALTER ROLE; the limit is a validated integer, never client input. */
export function connectionLimitClause(limit: number): string {
  if (!Number.isInteger(limit) || limit < 1) throw new Error('a tenant connection limit must be a positive integer');
  return `connection limit ${limit}`;
}

/**
 * Sets the configured limit on this installation's tenant login roles on one server that do not
 * have it yet. Returns how many roles were changed; a role that cannot be altered is logged and
 * skipped (the next start tries again).
 */
export async function applyTenantConnectionLimit(ctx: SiloContext, serverId: string): Promise<number> {
  const admin = await ctx.servers.admin(serverId);
  const limit = ctx.config.tenantConnectionLimit;
  const pattern = tenantNamePattern(ctx.config.dbPrefix);
  const roles = await admin<{ rolname: string }[]>`
    select rolname from pg_roles
    where rolcanlogin and rolname like ${pattern.like} and rolname not like ${pattern.notLike} and rolconnlimit <> ${limit}`;
  let changed = 0;
  for (const { rolname } of roles) {
    try {
      await admin.unsafe(`alter role ${quoteIdent(rolname)} ${connectionLimitClause(limit)}`);
      changed++;
    } catch (error) {
      ctx.log.warn({ serverId, role: rolname, error: describeError(error) }, 'could not set the connection limit of a tenant role');
    }
  }
  if (changed > 0) ctx.log.info({ serverId, roles: changed, limit }, 'set the connection limit of existing tenant roles');
  return changed;
}
