// Running SQL on one company's database through the read-only executor, as the company's role and
// through the pool map, within the installation's limits (SILO_SQL_*), counted for /metrics. The
// SQL console and the fleet query both come through here.
import type { SiloContext } from '../../context.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';
import { outcomeOf, type ReadOnlyLimits, type ReadOnlyResult, runReadOnly } from '../../data-plane/read-only-sql.ts';

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

export async function runCompanySql(
  ctx: SiloContext,
  company: CompanyRow,
  source: SqlSource,
  text: string,
  params: unknown[],
  limits: ReadOnlyLimits,
): Promise<ReadOnlyResult> {
  try {
    const result = await ctx.tenants.run(company, (db) => runReadOnly(db, text, params, limits));
    ctx.tenants.sqlRuns.count(source, 'ok');
    return result;
  } catch (error) {
    ctx.tenants.sqlRuns.count(source, outcomeOf(error));
    throw error;
  }
}
