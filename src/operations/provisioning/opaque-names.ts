// Renaming a company made before database and role names were opaque (src/base/names.ts): its
// slug-based names, readable by every other company in pg_database and pg_roles, become the
// opaque ones. `silo reconcile` reports such companies and `--fix` renames them.
//
// The rename goes in two hops, through a name with a double underscore that the orphan scan of
// `silo reconcile` never lists, so that at no moment does a scan see the live database under a name
// that no company row holds (it would drop it as an orphan):
//   1. under the company's row lock: connections to the database refused and ended, database and
//      role renamed to the hidden name, the row switched to the opaque names, committed;
//   2. hidden name -> opaque name, connections allowed again.
// A crash between the two leaves the database under the hidden name and the row on the new one: a
// rerun finishes hop 2. The company is unavailable for the fraction of a second between hops
// (requests answer 503), and requests in flight when hop 1 ends its sessions fail: run it when
// that is acceptable, once.
import { and, eq, inArray, sql as dsql } from 'drizzle-orm';
import type { Sql } from 'postgres';
import type { SiloContext } from '../../context.ts';
import { companies, type CompanyRow } from '../../control-plane/schema.ts';
import { inTransaction } from '../../base/db/transaction.ts';
import { describeError } from '../../base/errors.ts';
import { quoteIdent, tenantNames, type TenantNames } from '../../base/names.ts';
import { recordAudit } from '../../control-plane/audit.ts';
import { letAdminActAs } from './admin-role.ts';

/** The hidden name of hop 1: the opaque name with `__rename_` after the prefix. */
export function renameStopover(prefix: string, target: TenantNames): TenantNames {
  const name = `${prefix}__rename_${target.database.slice(prefix.length + 1)}`;
  return { database: name, role: name };
}

/** Whether the company's row still holds names that are not its opaque ones. */
export function hasLegacyNames(ctx: SiloContext, company: CompanyRow): boolean {
  return (
    company.provider === 'postgres' &&
    company.databaseName !== null &&
    company.databaseName !== tenantNames(ctx.config.dbPrefix, company).database
  );
}

async function exists(admin: Sql, names: TenantNames): Promise<{ database: boolean; role: boolean }> {
  const [found] = await admin<{ database: boolean; role: boolean }[]>`
    select exists (select 1 from pg_database where datname = ${names.database}) as database,
           exists (select 1 from pg_roles where rolname = ${names.role}) as role`;
  return found!;
}

/** Hop 2: the hidden names become the opaque ones, connections allowed again. Idempotent. */
async function finishRename(admin: Sql, stopover: TenantNames, target: TenantNames): Promise<void> {
  const there = await exists(admin, stopover);
  if (there.database) await admin.unsafe(`alter database ${quoteIdent(stopover.database)} rename to ${quoteIdent(target.database)}`);
  if (there.role) await admin.unsafe(`alter role ${quoteIdent(stopover.role)} rename to ${quoteIdent(target.role)}`);
  await admin.unsafe(`alter database ${quoteIdent(target.database)} allow_connections true`);
}

/** Hop 1 undone: the hidden names back to the old ones. */
async function undoHop(admin: Sql, stopover: TenantNames, from: TenantNames): Promise<void> {
  const there = await exists(admin, stopover);
  if (there.database) await admin.unsafe(`alter database ${quoteIdent(stopover.database)} rename to ${quoteIdent(from.database)}`);
  if (there.role) await admin.unsafe(`alter role ${quoteIdent(stopover.role)} rename to ${quoteIdent(from.role)}`);
  await admin.unsafe(`alter database ${quoteIdent(from.database)} allow_connections true`);
}

/**
 * Renames the company's database and role to its opaque names. Answers 'renamed', or 'skipped'
 * when there is nothing to do or the company cannot be renamed now (not active or suspended, being
 * moved or restored): a later run tries again.
 */
export async function renameToOpaqueNames(ctx: SiloContext, companyId: string, actor: string): Promise<'renamed' | 'skipped'> {
  const started = performance.now();
  const outcome = await inTransaction(ctx.db, async (tx) => {
    const [company] = await tx
      .select()
      .from(companies)
      .where(and(eq(companies.id, companyId), inArray(companies.status, ['active', 'suspended']), eq(companies.provider, 'postgres')))
      .for('update');
    if (!company?.serverId || !company.databaseName || !company.roleName) return 'skipped' as const;
    const target = tenantNames(ctx.config.dbPrefix, company);
    const stopover = renameStopover(ctx.config.dbPrefix, target);
    const admin = await ctx.servers.admin(company.serverId);
    // A crash between the hops: the row has the new names, the database the hidden one.
    if (company.databaseName === target.database) {
      if ((await exists(admin, stopover)).database) {
        await finishRename(admin, stopover, target);
        return { serverId: company.serverId, from: stopover.database };
      }
      return 'skipped' as const;
    }
    // A move or a restore holds the company; it keeps the names it started with.
    if (company.movingTo && company.moveLeaseUntil && company.moveLeaseUntil.getTime() > Date.now()) return 'skipped' as const;
    const from = { database: company.databaseName, role: company.roleName };
    await letAdminActAs(admin, from.role);
    try {
      if ((await exists(admin, from)).database) {
        // A database is renamed only when nobody is connected: no new session, those there ended.
        await admin.unsafe(`alter database ${quoteIdent(from.database)} allow_connections false`);
        await admin`select pg_terminate_backend(pid, 5000) from pg_stat_activity where datname = ${from.database}`;
        await admin.unsafe(`alter database ${quoteIdent(from.database)} rename to ${quoteIdent(stopover.database)}`);
      }
      if ((await exists(admin, from)).role)
        await admin.unsafe(`alter role ${quoteIdent(from.role)} rename to ${quoteIdent(stopover.role)}`);
    } catch (error) {
      // The row keeps the old names: so must the server, and the database must take sessions again.
      await undoHop(admin, stopover, from).catch((undoError: unknown) =>
        ctx.log.error({ companyId, error: describeError(undoError) }, 'could not undo a failed rename; silo reconcile --fix retries it'),
      );
      throw error;
    }
    await tx
      .update(companies)
      .set({ databaseName: target.database, roleName: target.role, updatedAt: dsql`now()` })
      .where(eq(companies.id, company.id));
    return { serverId: company.serverId, from: from.database, finish: () => finishRename(admin, stopover, target) };
  });
  if (outcome === 'skipped') return outcome;
  if ('finish' in outcome && outcome.finish) await outcome.finish();
  await ctx.tenants.companyChanged(companyId);
  await recordAudit(ctx.db, [
    {
      companyId,
      serverId: outcome.serverId,
      action: 'renamed_opaque',
      status: 'ok',
      actor,
      durationMs: Math.round(performance.now() - started),
    },
  ]);
  ctx.log.info({ companyId }, 'company database and role renamed to opaque names');
  return 'renamed';
}
