// What a move may leave on a server, and removing it. A move records its target before it creates
// anything there, and its source when it switches away from it (database_leftovers); the record is
// closed when the database and role are gone or are live again. Whatever a failure or a crash left
// open, `silo reconcile` finds here: a company's database name is the same on every server, so the
// orphan scan (which skips any name a live company holds) cannot tell a leftover from the real one.
import { and, eq, gt, isNotNull, isNull, lt, notInArray, sql as dsql } from 'drizzle-orm';
import type { SiloContext } from '../context.ts';
import { companies, databaseLeftovers } from '../control-plane/schema.ts';
import { describeError } from '../errors.ts';
import type { ReconcileFinding } from '../provisioning/reconcile.ts';
import { dropTenantDatabase } from '../provisioning/tenant-database.ts';
import { recordAudit } from '../services/audit.ts';
import { inTransaction } from '../db/transaction.ts';

export type Leftover = typeof databaseLeftovers.$inferSelect;

export type Removal = 'removed' | 'live' | 'moving';

/** Open leftover records, optionally of one company on one server. */
export function openLeftovers(ctx: SiloContext, where: { companyId?: string; serverId?: string } = {}): Promise<Leftover[]> {
  return ctx.db
    .select()
    .from(databaseLeftovers)
    .where(
      and(
        isNull(databaseLeftovers.removedAt),
        where.companyId ? eq(databaseLeftovers.companyId, where.companyId) : undefined,
        where.serverId ? eq(databaseLeftovers.serverId, where.serverId) : undefined,
      ),
    )
    .orderBy(databaseLeftovers.id);
}

/** Whether two server entries are one cluster (registered twice): the same start time and database oid. */
async function sameCluster(ctx: SiloContext, a: string, b: string, database: string): Promise<boolean> {
  const identity = async (serverId: string) => {
    const admin = await ctx.servers.admin(serverId);
    const [row] = await admin<{ id: string }[]>`
      select extract(epoch from pg_postmaster_start_time())::text || '/' ||
             coalesce((select oid::text from pg_database where datname = ${database}), '-') as id`;
    return row!.id;
  };
  const [first, second] = await Promise.all([identity(a), identity(b)]);
  return first === second;
}

/**
 * Drops a leftover database and role, unless they are not one any more: a live company is served
 * from that name on that server ('live'), or a move to that server is running ('moving'). Holds the
 * company's row lock throughout, so that a move cannot claim the server while this drops. Throws
 * when the server cannot be reached; the record stays open with the reason.
 */
export async function removeLeftover(ctx: SiloContext, leftover: Leftover): Promise<Removal> {
  try {
    return await inTransaction(ctx.db, async (tx) => {
      const [company] = await tx.select().from(companies).where(eq(companies.id, leftover.companyId)).for('update');
      const [still] = await tx
        .select({ id: databaseLeftovers.id })
        .from(databaseLeftovers)
        .where(and(eq(databaseLeftovers.id, leftover.id), isNull(databaseLeftovers.removedAt)));
      if (!still) return 'removed';
      const close = () => tx.update(databaseLeftovers).set({ removedAt: dsql`now()` }).where(eq(databaseLeftovers.id, leftover.id));
      const [served] = await tx
        .select({ id: companies.id })
        .from(companies)
        .where(
          and(
            eq(companies.serverId, leftover.serverId),
            eq(companies.databaseName, leftover.databaseName),
            notInArray(companies.status, ['deleted', 'failed']),
          ),
        );
      if (served) {
        await close();
        return 'live';
      }
      const [moving] = await tx
        .select({ id: companies.id })
        .from(companies)
        .where(
          and(eq(companies.id, leftover.companyId), eq(companies.movingTo, leftover.serverId), gt(companies.moveLeaseUntil, dsql`now()`)),
        );
      if (moving) return 'moving';
      // (A restore's leftovers have names of their own, never the company's: no such doubt.)
      const servedElsewhere =
        company?.serverId && !['deleted', 'failed'].includes(company.status) && company.databaseName === leftover.databaseName;
      if (servedElsewhere && (await sameCluster(ctx, leftover.serverId, company.serverId!, leftover.databaseName))) {
        // The "leftover" is the company's own database, seen through a second entry for its server.
        await close();
        return 'live';
      }
      await dropTenantDatabase(await ctx.servers.admin(leftover.serverId), { database: leftover.databaseName, role: leftover.roleName });
      await close();
      return 'removed';
    });
  } catch (error) {
    await ctx.db
      .update(databaseLeftovers)
      .set({ lastError: describeError(error) })
      .where(eq(databaseLeftovers.id, leftover.id))
      .catch(() => {});
    throw error;
  }
}

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
    const finding: ReconcileFinding = {
      kind: 'interrupted_move',
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
          details: { finding: 'interrupted_move' },
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
      kind: 'move_leftover',
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
