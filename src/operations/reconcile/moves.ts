// `silo reconcile`, the part about moves and restores in place: those whose Silo died (the claim
// lapsed; a restore's swap is put back), and databases that a move or a restore left on a server (scale-out/leftovers.ts keeps the records and removes them).
import { and, eq, isNotNull, lt, sql as dsql } from 'drizzle-orm';
import { describeError } from '../../base/errors.ts';
import { inTransaction } from '../../base/db/transaction.ts';
import type { SiloContext } from '../../context.ts';
import { recordAudit } from '../../control-plane/audit.ts';
import { companies } from '../../control-plane/schema.ts';
import { openLeftovers, removeLeftover } from '../scale-out/leftovers.ts';
import { restoreNames } from '../backups/restore-in-place.ts';
import { repairInterruptedSwap } from '../backups/restore-swap.ts';
import type { ReconcileFinding } from './finding.ts';

/**
 * For `silo reconcile`: moves whose mover died (its claim lapsed), and open leftovers. With `fix`,
 * lapsed claims are released (writes resume, the company stays where it is) and leftovers dropped.
 */
export async function reconcileMoves(ctx: SiloContext, options: { fix: boolean; actor: string }): Promise<ReconcileFinding[]> {
  const findings: ReconcileFinding[] = [];
  const lapsed = await ctx.db
    .select()
    .from(companies)
    .where(and(isNotNull(companies.movingTo), lt(companies.moveLeaseUntil, dsql`now()`)));
  for (const company of lapsed) {
    // A restore in place claims the company like a move, towards its own server.
    const restore = company.movingTo === company.serverId;
    const finding: ReconcileFinding = {
      kind: restore ? 'interrupted_restore' : 'interrupted_move',
      serverId: company.movingTo,
      name: company.slug,
      companyId: company.id,
      fixed: false,
    };
    findings.push(finding);
    if (!options.fix) continue;
    // A mover that hung in the middle of a COPY still holds the old database's lock: end its session.
    if (company.serverId && company.databaseName) {
      const admin = await ctx.servers.admin(company.serverId);
      await admin`
        select pg_terminate_backend(pid) from pg_stat_activity
        where datname = ${company.databaseName} and application_name = 'silo-move'`.catch((error: unknown) => {
        finding.error = describeError(error);
      });
    }
    if (restore) {
      try {
        await repairInterruptedSwap(ctx, company, restoreNames(ctx.config.dbPrefix, company.databaseName!));
      } catch (error) {
        // The claim stays (writes held): releasing it would serve a database that may not be there.
        finding.error = describeError(error);
        continue;
      }
    }
    await inTransaction(ctx.db, async (tx) => {
      await tx
        .update(companies)
        .set({ movingTo: null, moveLeaseUntil: null, writesHeldUntil: null })
        .where(and(eq(companies.id, company.id), eq(companies.moveLeaseUntil, company.moveLeaseUntil!)));
      await recordAudit(tx, [
        {
          companyId: company.id,
          serverId: company.movingTo,
          action: 'reconciled',
          status: 'ok',
          actor: options.actor,
          details: { finding: finding.kind },
        },
      ]);
    });
    await ctx.tenants.companyChanged(company.id);
    finding.fixed = true;
  }

  for (const leftover of await openLeftovers(ctx)) {
    // A running move's own target, and names served again, are not findings (a fix closes the latter).
    const [state] = await ctx.db.execute<{ moving: boolean; live: boolean }>(dsql`
      select coalesce(c.moving_to = ${leftover.serverId}::uuid and c.move_lease_until > now(), false) as moving,
             exists (select 1 from companies s where s.server_id = ${leftover.serverId}::uuid
                     and s.database_name = ${leftover.databaseName} and s.status not in ('deleted', 'failed')) as live
      from companies c where c.id = ${leftover.companyId}::uuid`);
    if (state?.moving || (state?.live && !options.fix)) continue;
    const finding: ReconcileFinding = {
      kind: leftover.reason === 'forced_delete' ? 'forced_delete_leftover' : 'move_leftover',
      serverId: leftover.serverId,
      name: leftover.databaseName,
      companyId: leftover.companyId,
      fixed: false,
      ...(leftover.lastError ? { error: leftover.lastError } : {}),
    };
    if (!options.fix) {
      findings.push(finding);
      continue;
    }
    try {
      const outcome = await removeLeftover(ctx, leftover);
      if (outcome === 'moving' || outcome === 'live') continue;
      finding.fixed = true;
      delete finding.error;
      await recordAudit(ctx.db, [
        {
          companyId: leftover.companyId,
          serverId: leftover.serverId,
          action: 'reconciled',
          status: 'ok',
          actor: options.actor,
          details: { finding: 'move_leftover', reason: leftover.reason, database: leftover.databaseName },
        },
      ]);
    } catch (error) {
      finding.error = describeError(error);
    }
    findings.push(finding);
  }
  return findings;
}
