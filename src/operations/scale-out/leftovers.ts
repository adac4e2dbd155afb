// What a move may leave on a server, and removing it. A move records its target before it creates
// anything there, and its source when it switches away from it (database_leftovers); the record is
// closed when the database and role are gone or are live again. Whatever a failure or a crash left
// open, `silo reconcile` finds (operations/reconcile/moves.ts): a company's database name is the same on every server, so the
// orphan scan (which skips any name a live company holds) cannot tell a leftover from the real one.
import { and, eq, gt, isNull, notInArray, sql as dsql } from 'drizzle-orm';
import type { SiloContext } from '../../context.ts';
import type { ManagementDb } from '../../control-plane/db.ts';
import { companies, databaseLeftovers } from '../../control-plane/schema.ts';
import { describeError } from '../../base/errors.ts';
import { dropTenantDatabase, removeCompanyDatabase } from '../provisioning/tenant-database.ts';
import { inTransaction } from '../../base/db/transaction.ts';

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
async function sameCluster(ctx: SiloContext, tx: ManagementDb, a: string, b: string, database: string): Promise<boolean> {
  const identity = async (serverId: string) => {
    const admin = await ctx.servers.admin(serverId, tx);
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
      if (servedElsewhere && (await sameCluster(ctx, tx, leftover.serverId, company.serverId!, leftover.databaseName))) {
        // The "leftover" is the company's own database, seen through a second entry for its server.
        await close();
        return 'live';
      }
      if (company?.provider === 'neon') {
        // A neon company's leftover (a forced delete while the API could not be reached) is its
        // project: deleted by id, or by Silo's name when no id was recorded.
        await removeCompanyDatabase(ctx, { ...company, serverId: leftover.serverId });
      } else {
        await dropTenantDatabase(await ctx.servers.admin(leftover.serverId, tx), {
          database: leftover.databaseName,
          role: leftover.roleName,
        });
      }
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
 * After a failed move or restore: gives the company's lease back (writes resume at once) and drops
 * what the work had made, the claim's leftover. Answers "ok", or why that leftover stays for
 * `silo reconcile`. A lease that cannot be released lapses by itself.
 */
export async function abandonClaim(
  ctx: SiloContext,
  companyId: string,
  lease: { release(): Promise<unknown>; claim: { leftoverId: number } },
  work: 'move' | 'restore',
): Promise<string> {
  await lease
    .release()
    .catch((releaseError: unknown) =>
      ctx.log.error({ companyId, error: describeError(releaseError) }, `could not release a failed ${work}; its lease lapses by itself`),
    );
  try {
    const [leftover] = await ctx.db.select().from(databaseLeftovers).where(eq(databaseLeftovers.id, lease.claim.leftoverId));
    if (leftover) await removeLeftover(ctx, leftover);
    return 'ok';
  } catch (cleanupError) {
    return `${describeError(cleanupError)}; silo reconcile drops it`;
  }
}
