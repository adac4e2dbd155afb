// Running SQL on one company's database through the read-only executor, as the company's role and
// through the pool map, within the installation's limits (SILO_SQL_*), counted for /metrics. The
// SQL console and the fleet query both come through here.
import type { SiloContext } from '../../context.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';
import { budgetKeyOf } from '../../data-plane/company-database.ts';
import { openForOneRun, rememberArrayParsers } from '../../data-plane/one-run-connection.ts';
import { outcomeOf, type ReadOnlyLimits, type ReadOnlyResult, runReadOnly, runReadOnlyOnce } from '../../data-plane/read-only-sql.ts';

export type SqlSource = 'console' | 'fleet';

/** A caller may ask for less than the installation's limits, never more. */
export function limitsFor(ctx: SiloContext, asked: { maxRows?: number | undefined; timeoutMs?: number | undefined }): ReadOnlyLimits {
  const { statementTimeoutMs, idleInTransactionTimeoutMs, maxRows } = ctx.config.sql;
  return {
    statementTimeoutMs: Math.min(asked.timeoutMs ?? statementTimeoutMs, statementTimeoutMs),
    idleInTransactionTimeoutMs,
    maxRows: Math.min(asked.maxRows ?? maxRows, maxRows),
  };
}

/**
 * Where a run goes: `pool`, the company's pool in the pool map (opened if need be); `own
 * connection`, a connection opened for this run alone as the company's role and closed after,
 * holding one pool's slot of the server's budget meanwhile (PoolMap.withSlot), for postgres and
 * external companies only; its login is the password of `company`, the row as read by the caller.
 */
export type RunVia = 'pool' | 'own connection';

export function runCompanySql(
  ctx: SiloContext,
  company: CompanyRow,
  source: SqlSource,
  text: string,
  params: unknown[],
  limits: ReadOnlyLimits,
  via: RunVia = 'pool',
): Promise<ReadOnlyResult> {
  if (via === 'pool')
    return counted(
      ctx,
      source,
      ctx.tenants.run(company, (db) => runReadOnly(db, text, params, limits)),
    );
  const run = ctx.tenants.pools.withSlot(budgetKeyOf(company), async () => {
    const sql = await openForOneRun(ctx, company, ctx.config.pools.connectTimeoutSeconds);
    try {
      const result = await runReadOnlyOnce(sql, text, params, limits);
      rememberArrayParsers(sql);
      return result;
    } finally {
      await sql.end({ timeout: 5 }).catch(() => {});
    }
  });
  return counted(ctx, source, run);
}

async function counted(ctx: SiloContext, source: SqlSource, run: Promise<ReadOnlyResult>): Promise<ReadOnlyResult> {
  try {
    const result = await run;
    ctx.tenants.sqlRuns.count(source, 'ok');
    return result;
  } catch (error) {
    ctx.tenants.sqlRuns.count(source, outcomeOf(error));
    throw error;
  }
}
