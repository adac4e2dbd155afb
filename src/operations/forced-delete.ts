// Marking a company deleted, and deleting one whose database cannot be reached for good (its server
// was decommissioned, a Neon stand-in stopped): with force, the company is marked deleted all the
// same, and what could not be removed is recorded: in the audit log, and as a leftover that
// `silo reconcile` reports (and drops with --fix, should the server come back).
import { eq, sql as dsql } from 'drizzle-orm';
import type { SiloContext } from '../context.ts';
import { companies, databaseLeftovers } from '../control-plane/schema.ts';
import { inTransaction } from '../base/db/transaction.ts';
import { type AuditEntry, recordAudit } from '../control-plane/audit.ts';
import type { CompanyRow } from '../control-plane/schema.ts';

type DeletionAudit = Pick<AuditEntry, 'actor' | 'durationMs' | 'details' | 'error'>;

/** The row becomes `deleted`: its secrets go, its names stay for the audit trail. */
export async function markDeleted(ctx: SiloContext, company: CompanyRow, audit: DeletionAudit, leftover = false) {
  const deleted = await inTransaction(ctx.db, async (tx) => {
    const [row] = await tx
      .update(companies)
      .set({ status: 'deleted', credentialsEncrypted: null, databaseUrlEncrypted: null, deletedAt: dsql`now()`, updatedAt: dsql`now()` })
      .where(eq(companies.id, company.id))
      .returning();
    if (leftover && company.serverId && company.databaseName && company.roleName) {
      await tx.insert(databaseLeftovers).values({
        companyId: company.id,
        serverId: company.serverId,
        databaseName: company.databaseName,
        roleName: company.roleName,
        reason: 'forced_delete',
        lastError: audit.error,
      });
    }
    await recordAudit(tx, [{ companyId: company.id, serverId: company.serverId, action: 'deleted', status: 'ok', ...audit }]);
    return row!;
  });
  await ctx.tenants.companyChanged(company.id);
  return deleted;
}

export async function markDeletedWithLeftovers(ctx: SiloContext, company: CompanyRow, actor: string, reason: string, durationMs: number) {
  // An external database is never Silo's to drop: nothing is left over that Silo would remove.
  const left =
    company.provider !== 'external' && company.serverId && company.databaseName
      ? { database: company.databaseName, role: company.roleName, neonProject: company.providerRef }
      : null;
  const deleted = await markDeleted(
    ctx,
    company,
    { actor, durationMs, error: reason, details: { forced: true, notRemoved: left } },
    left !== null,
  );
  ctx.log.warn({ companyId: company.id, slug: company.slug, notRemoved: left }, 'company deleted with force; its database was not removed');
  return deleted;
}
