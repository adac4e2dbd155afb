// The end of a restore in place (restore-in-place.ts): the swap of the old and the restored
// database under the company's name, dropping the old one, and the undo of a restore that failed
// before the swap (the company keeps its old database; what was made is dropped, or left recorded
// for `silo reconcile`).
import { and, eq, inArray, sql as dsql } from 'drizzle-orm';
import type { Sql } from 'postgres';
import type { SiloContext } from '../../context.ts';
import { companies, databaseLeftovers } from '../../control-plane/schema.ts';
import { inTransaction } from '../../base/db/transaction.ts';
import { describeError, isConnectionError, SiloError } from '../../base/errors.ts';
import { quoteIdent } from '../../base/names.ts';
import { abandonClaim } from '../scale-out/leftovers.ts';
import type { MoveClaim, MoveLease } from '../scale-out/move-claim.ts';
import { type AuditEntry, recordAudit } from '../../control-plane/audit.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';
import type { LoadStep } from './load-archive.ts';

/** The steps of a restore in place, as its audit entries and failure injection name them. */
export type RestoreStep = 'verify_archive' | 'claim' | 'database' | LoadStep | 'hold' | 'swap' | 'drop_old';

interface Names {
  restored: string;
  old: string;
}

/**
 * Swaps the names under the company's row lock, and switches the row in the same transaction: when
 * the row cannot be switched (the claim lost, the company deleted), the names are swapped back.
 */
export async function swapDatabases(
  ctx: SiloContext,
  company: CompanyRow,
  claim: MoveClaim,
  names: Names,
  schemaVersion: string | null,
  audit: AuditEntry[],
  actor: string,
): Promise<void> {
  const admin = await ctx.servers.admin(claim.from);
  const live = quoteIdent(company.databaseName!);
  const started = performance.now();
  await inTransaction(ctx.db, async (tx) => {
    const [row] = await tx
      .select({ id: companies.id })
      .from(companies)
      .where(
        and(
          eq(companies.id, company.id),
          eq(companies.moveLeaseUntil, claim.lease),
          inArray(companies.status, ['active', 'suspended']),
          eq(companies.serverId, claim.from),
        ),
      )
      .for('update');
    if (!row) throw new Error('the company changed while it was restored (deleted or moved), or the restore lost its claim');
    // No new session can start on the old database, and those there (requests' pools, which the
    // write hold emptied of writes) are ended: a database is renamed only when nobody is connected.
    await admin.unsafe(`alter database ${live} allow_connections false`);
    await admin`select pg_terminate_backend(pid, 5000) from pg_stat_activity where datname = ${company.databaseName!}`;
    await admin.unsafe(`alter database ${live} rename to ${quoteIdent(names.old)}`);
    try {
      await admin.unsafe(`alter database ${quoteIdent(names.restored)} rename to ${live}`);
      await tx
        .update(companies)
        .set({
          schemaVersion,
          migrationError: null,
          movingTo: null,
          moveLeaseUntil: null,
          writesHeldUntil: null,
          updatedAt: dsql`now()`,
        })
        .where(eq(companies.id, company.id));
      await tx.update(databaseLeftovers).set({ removedAt: dsql`now()` }).where(eq(databaseLeftovers.id, claim.leftoverId));
      await tx.insert(databaseLeftovers).values({
        companyId: company.id,
        serverId: claim.from,
        databaseName: names.old,
        roleName: names.old,
        reason: 'restore_source',
      });
      audit.push({
        companyId: company.id,
        serverId: claim.from,
        action: 'restore.swap',
        status: 'ok',
        actor,
        durationMs: Math.round(performance.now() - started),
      });
      await recordAudit(tx, audit);
    } catch (error) {
      await swapBack(admin, company.databaseName!, names).catch((swapError: unknown) =>
        ctx.log.error({ companyId: company.id, error: describeError(swapError) }, 'could not swap a failed restore back'),
      );
      throw error;
    }
  });
}

async function swapBack(admin: Sql, database: string, names: Names): Promise<void> {
  const [restoredThere] = await admin<{ n: number }[]>`select count(*)::int as n from pg_database where datname = ${names.restored}`;
  if (restoredThere!.n === 0) {
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${database}`;
    await admin.unsafe(`alter database ${quoteIdent(database)} rename to ${quoteIdent(names.restored)}`);
  }
  await admin.unsafe(`alter database ${quoteIdent(names.old)} rename to ${quoteIdent(database)}`);
  await admin.unsafe(`alter database ${quoteIdent(database)} allow_connections true`);
}

/**
 * For `silo reconcile`, once a restore's claim has lapsed (its Silo stopped): the swap never
 * committed, so the company's old database must be under its name and open. A crash between the
 * swap's steps may have left it closed to connections, or renamed to the old name (with the restored
 * one, perhaps, under the company's name): put it back. What is then under the restore's name is
 * the claim's leftover, which reconcile drops.
 */
export async function repairInterruptedSwap(ctx: SiloContext, company: CompanyRow, names: Names): Promise<void> {
  const admin = await ctx.servers.admin(company.serverId!);
  const present = new Set(
    (
      await admin<{ name: string }[]>`
        select datname as name from pg_database where datname in (${company.databaseName!}, ${names.old}, ${names.restored})`
    ).map((d) => d.name),
  );
  // A restore starts only when no old database is there (restore-in-place.ts): one under the old
  // name now is the company's, renamed by this restore's swap.
  if (!present.has(names.old)) {
    await admin.unsafe(`alter database ${quoteIdent(company.databaseName!)} allow_connections true`);
  } else if (present.size === 3) {
    throw new Error(`the company's database, ${names.old} and ${names.restored} are all there; which one to keep is the operator's call`);
  } else {
    await swapBack(admin, company.databaseName!, names);
  }
}

/** After the swap: the old database goes; a failure is logged and left to `silo reconcile`. */
export async function dropOld(ctx: SiloContext, company: CompanyRow, admin: Sql, old: string, actor: string): Promise<boolean> {
  const started = performance.now();
  let error: unknown;
  try {
    await admin.unsafe(`drop database if exists ${quoteIdent(old)} with (force)`);
    await ctx.db
      .update(databaseLeftovers)
      .set({ removedAt: dsql`now()` })
      .where(
        and(
          eq(databaseLeftovers.companyId, company.id),
          eq(databaseLeftovers.databaseName, old),
          eq(databaseLeftovers.reason, 'restore_source'),
        ),
      );
  } catch (caught) {
    error = caught;
    ctx.log.warn(
      { companyId: company.id, error: describeError(caught) },
      'restored, but the old database could not be dropped; silo reconcile drops it',
    );
  }
  await recordAudit(ctx.db, [
    {
      companyId: company.id,
      serverId: company.serverId,
      action: 'restore.drop_old',
      status: error ? 'failed' : 'ok',
      actor,
      durationMs: Math.round(performance.now() - started),
      ...(error ? { error: describeError(error) } : {}),
    },
  ]).catch(() => {});
  return !error;
}

interface Undo {
  company: CompanyRow;
  lease: MoveLease | undefined;
  client: Sql | undefined;
  admin: Sql;
  names: Names;
  audit: AuditEntry[];
  step: RestoreStep;
  error: unknown;
  actor: string;
  started: number;
}

/** Before the swap: the company keeps its old database; the restored one is dropped. Answers the error to throw. */
export async function undoRestore(ctx: SiloContext, undo: Undo): Promise<SiloError> {
  const { company, lease, error } = undo;
  const reason = `${undo.step}: ${describeError(error)}`;
  await undo.client?.end({ timeout: 1 }).catch(() => {});
  const cleanup = lease ? await abandonClaim(ctx, company.id, lease, 'restore') : 'ok';
  undo.audit.push({
    companyId: company.id,
    serverId: company.serverId,
    action: 'restored',
    status: 'failed',
    actor: undo.actor,
    durationMs: Math.round(performance.now() - undo.started),
    error: reason,
    details: { step: undo.step, cleanup },
  });
  await recordAudit(ctx.db, undo.audit).catch(() => {});
  ctx.log.error({ companyId: company.id, step: undo.step, error: reason, cleanup }, 'restoring a company failed; it keeps its data');
  if (error instanceof SiloError && error.code !== 'internal') return error;
  const message = `restoring the company failed at step "${undo.step}"; it still has its data from before`;
  if (isConnectionError(error)) return new SiloError('unavailable', message, { companyId: company.id, step: undo.step });
  return new SiloError('internal', message, { companyId: company.id, step: undo.step, error: describeError(error), cleanup });
}
