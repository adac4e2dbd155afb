// The audit trail of operations on tenant databases (company_database_logs).
import type { SiloContext } from '../context.ts';
import { companyDatabaseLogs } from './schema.ts';

export type AuditEntry = typeof companyDatabaseLogs.$inferInsert;

type Db = Pick<SiloContext['db'], 'insert'>;

/** Writes entries in one statement; `db` may be a transaction. */
export async function recordAudit(db: Db, entries: AuditEntry[]): Promise<void> {
  if (entries.length > 0) await db.insert(companyDatabaseLogs).values(entries);
}
