// The switch of a move, in one management transaction: the company's row points at the new server
// with the new password, the claim and the write hold end, and the old database is recorded as a
// leftover until it is dropped. It happens only while the company is as it was claimed (same
// server, the move's own lease, still served, the same schema version); otherwise the move fails.
import { and, eq, sql as dsql } from 'drizzle-orm';
import { sealedAt } from '../../base/crypto/credentials.ts';
import { inTransaction } from '../../base/db/transaction.ts';
import type { TenantNames } from '../../base/names.ts';
import type { MoveStep, SiloContext } from '../../context.ts';
import { recordAudit, type SagaSteps } from '../../control-plane/audit.ts';
import { servableCompanies } from '../../control-plane/company-records.ts';
import { type CompanyRow, companies, databaseLeftovers } from '../../control-plane/schema.ts';
import type { MoveClaim } from './move-claim.ts';

const leftoverNames = (names: TenantNames) => ({ databaseName: names.database, roleName: names.role });

export async function switchToTarget(
  ctx: SiloContext,
  move: { company: CompanyRow; claim: MoveClaim; names: TenantNames; password: string; steps: SagaSteps<MoveStep> },
): Promise<CompanyRow> {
  const { company, claim, names, password, steps } = move;
  const { from, to } = claim;
  const switchStarted = performance.now();
  return inTransaction(ctx.db, async (tx) => {
    const [row] = await tx
      .update(companies)
      .set({
        serverId: to,
        credentialsEncrypted: ctx.box.seal(password, sealedAt.companyCredentials(company.id)),
        movingTo: null,
        moveLeaseUntil: null,
        writesHeldUntil: null,
        updatedAt: dsql`now()`,
      })
      .where(
        and(
          eq(companies.id, company.id),
          eq(companies.serverId, from),
          eq(companies.moveLeaseUntil, claim.lease),
          // Deleted, or migrated, while it was copied: the copy is not the company's database.
          servableCompanies(),
          eq(companies.schemaVersion, company.schemaVersion!),
        ),
      )
      .returning();
    if (!row) throw new Error('the company changed while it was copied (deleted or migrated), or the move lost its claim');
    // The target is the company's database now; the old one is a leftover until it is dropped.
    await tx.update(databaseLeftovers).set({ removedAt: dsql`now()` }).where(eq(databaseLeftovers.id, claim.leftoverId));
    await tx.insert(databaseLeftovers).values({ companyId: company.id, serverId: from, ...leftoverNames(names), reason: 'move_source' });
    steps.record('switch', switchStarted);
    await recordAudit(tx, steps.audit);
    return row;
  });
}
