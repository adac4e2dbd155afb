// Session advisory locks on the management database: one instance at a time for work that spans
// several transactions and other databases (every Silo instance shares the management database).
import type { Sql } from 'postgres';
import { withOneConnection } from './transaction.ts';

/** First half of each lock's key, so that kinds of work never take each other's locks. */
export const LOCK_CLASS = {
  /** Deleting one company: its second half is hashtext(company id). */
  companyDelete: 0x73696c64,
  /** Starting due scheduled backups, one instance at a time: its second half is hashtext('fleet'). */
  backupSchedule: 0x73696c62,
} as const;

/**
 * Runs `work` holding the lock (lockClass, hashtext(key)), or answers `{ locked: false }` at once
 * when another session holds it. The lock lives on a connection reserved for it while `work` runs
 * on others; if that connection is lost, so is the lock.
 */
export async function ifUnlocked<T>(
  sql: Sql,
  lockClass: number,
  key: string,
  work: () => Promise<T>,
): Promise<{ locked: true; value: T } | { locked: false }> {
  return withOneConnection(sql, async (conn) => {
    const [row] = await conn<{ locked: boolean }[]>`select pg_try_advisory_lock(${lockClass}, hashtext(${key})) as locked`;
    if (!row?.locked) return { locked: false };
    try {
      return { locked: true, value: await work() };
    } finally {
      await conn`select pg_advisory_unlock(${lockClass}, hashtext(${key}))`.catch(() => {});
    }
  });
}
