// The company SQL console: a company admin's SQL, run read-only as the company's role, and every
// run (its outcome, never its rows) written to the company's own history.
import type { SiloContext } from '../../context.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';
import { recordRun } from '../../data-plane/company-plane/sql-console.ts';
import { type ReadOnlyResult, SqlRefused } from '../../data-plane/read-only-sql.ts';
import type { TenantDb } from '../../data-plane/tenant-db.ts';
import { limitsFor, runCompanySql } from './company-sql.ts';

export interface ConsoleRun {
  sql: string;
  params?: unknown[] | undefined;
  maxRows?: number | undefined;
}

export async function runConsoleSql(
  ctx: SiloContext,
  tenant: { company: CompanyRow; db: TenantDb },
  userId: string,
  input: ConsoleRun,
): Promise<ReadOnlyResult> {
  const started = performance.now();
  let result: ReadOnlyResult;
  try {
    result = await runCompanySql(ctx, tenant.company, 'console', input.sql, input.params ?? [], limitsFor(ctx, input));
  } catch (error) {
    // The database's answer is the caller's to keep; a failure of Silo's own is not history.
    if (error instanceof SqlRefused) {
      const ms = Math.round((performance.now() - started) * 10) / 10;
      await recordRun(tenant.db, {
        userId,
        sql: input.sql,
        ok: false,
        rowCount: null,
        ms,
        error: `${error.message} (SQLSTATE ${error.sqlState})`,
      });
    }
    throw error;
  }
  await recordRun(tenant.db, { userId, sql: input.sql, ok: true, rowCount: result.rowCount, ms: result.ms });
  return result;
}
