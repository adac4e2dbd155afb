// How a move ends. After the switch, the old database and role are dropped (a failure there is left
// for `silo reconcile`: nothing can undo the move any more). Before it, a failed move is undone:
// the old database stays the company's, writes resume, and what was made on the target goes.
import { and, eq, sql as dsql } from 'drizzle-orm';
import { describeError, isConnectionError, SiloError } from '../../base/errors.ts';
import { quoteIdent, type TenantNames } from '../../base/names.ts';
import type { MoveStep, SiloContext } from '../../context.ts';
import { type AuditEntry, recordAudit } from '../../control-plane/audit.ts';
import { type CompanyRow, databaseLeftovers } from '../../control-plane/schema.ts';
import { dropTenantDatabase } from '../provisioning/tenant-database.ts';
import { abandonClaim } from './leftovers.ts';
import type { MoveLease } from './move-claim.ts';
import type { CopySide } from './move-copy.ts';

/**
 * After the switch: the old database and role go. Nothing can undo the move any more, so a failure
 * here is logged and left for `silo reconcile` (the leftover record stays open). No write can land
 * in the old database meanwhile: its connections are refused and ended first.
 */
export async function dropOldDatabase(
  ctx: SiloContext,
  company: CompanyRow,
  from: string,
  names: TenantNames,
  source: CopySide | undefined,
  actor: string,
): Promise<boolean> {
  const started = performance.now();
  let error: unknown;
  try {
    await ctx.beforeMoveStep?.('drop_old');
    const admin = await ctx.servers.admin(from);
    await admin.unsafe(`alter database ${quoteIdent(names.database)} connection limit 0`);
    // Writes waiting on the move's lock end while it still holds: ended together with it (by the
    // drop), a waiter could be granted the lock and commit before it noticed, and its client would
    // be told that a write landed which is then dropped. No new session can start meanwhile.
    await source?.sql.unsafe(
      'select pg_terminate_backend(pid, 5000) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
    );
    // Ends every session left there, this move's lock included.
    await dropTenantDatabase(admin, names);
    await ctx.db
      .update(databaseLeftovers)
      .set({ removedAt: dsql`now()` })
      .where(
        and(eq(databaseLeftovers.companyId, company.id), eq(databaseLeftovers.serverId, from), eq(databaseLeftovers.reason, 'move_source')),
      );
  } catch (caught) {
    error = caught;
    // Writes that waited on the lock must not land once it is released.
    await source?.sql
      .unsafe('select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()')
      .catch(() => {});
    ctx.log.warn(
      { companyId: company.id, serverId: from, error: describeError(caught) },
      'moved, but the old database could not be dropped; silo reconcile drops it',
    );
  }
  await source?.end();
  await recordAudit(ctx.db, [
    {
      companyId: company.id,
      serverId: from,
      action: 'move.drop_old',
      status: error ? 'failed' : 'ok',
      actor,
      durationMs: Math.round(performance.now() - started),
      ...(error ? { error: describeError(error) } : {}),
    },
  ]).catch(() => {});
  return !error;
}

export interface Undo {
  company: CompanyRow;
  lease: MoveLease;
  source: CopySide | undefined;
  target: CopySide | undefined;
  audit: AuditEntry[];
  step: MoveStep;
  error: unknown;
  actor: string;
  started: number;
}

/**
 * Before the switch: the old database stays the company's. Its lock goes first and the write hold
 * next, so writes resume at once; then what was made on the target is dropped (recorded as a
 * leftover for `silo reconcile` when the target cannot be reached). Answers the error to throw.
 */
export async function undoMove(ctx: SiloContext, undo: Undo): Promise<SiloError> {
  const { company, lease, error } = undo;
  const reason = `${undo.step}: ${describeError(error)}`;
  // The old database's session goes first, and from the server's side: a COPY it was sending when
  // the move failed leaves it blocked on a client that no longer reads, its lock held, and ending
  // the client only half-closes the socket.
  if (undo.source) {
    const { pid } = undo.source;
    await ctx.servers
      .admin(lease.claim.from)
      .then((admin) => admin`select pg_terminate_backend(${pid})`)
      .catch((killError: unknown) =>
        ctx.log.warn({ companyId: company.id, error: describeError(killError) }, 'could not end the move session on the old database'),
      );
  }
  await undo.source?.end();
  await undo.target?.end();
  const cleanup = await abandonClaim(ctx, company.id, lease, 'move');
  undo.audit.push({
    companyId: company.id,
    serverId: lease.claim.to,
    action: 'moved',
    status: 'failed',
    actor: undo.actor,
    durationMs: Math.round(performance.now() - undo.started),
    error: reason,
    details: { from: lease.claim.from, to: lease.claim.to, step: undo.step, cleanup },
  });
  await recordAudit(ctx.db, undo.audit).catch(() => {});
  ctx.log.error({ companyId: company.id, step: undo.step, error: reason, cleanup }, 'moving a company failed; it stays on its old server');

  const message = `moving the company failed at step "${undo.step}"; it is still served from its old database server`;
  if (isConnectionError(error)) return new SiloError('unavailable', message, { companyId: company.id, step: undo.step });
  const details = error instanceof SiloError && error.details !== undefined ? error.details : { error: describeError(error) };
  return new SiloError('internal', message, { companyId: company.id, step: undo.step, ...(details as object), cleanup });
}
