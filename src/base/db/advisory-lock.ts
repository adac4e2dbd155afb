// Session advisory locks on the management database: one instance at a time for work that spans
// several transactions and other databases (every Silo instance shares the management database).
//
// A session lock lives on a connection that must stay reserved while the work runs, and the work
// needs management connections of its own. Were both taken from one pool, enough concurrent
// lock holders (deletes of different companies) would each hold a connection for their lock while
// their work waited for one that only a holder could release: a deadlock. So the locks live on a
// small pool of their own (`ManagementConnection.locks`, src/control-plane/db.ts) that the work
// never uses: when it is exhausted, lock takers queue for it while the holders' work goes on, and
// each finished holder lets the next taker in. docs/reliability.md, "Advisory locks".
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Sql } from 'postgres';
import { withOneConnection } from './transaction.ts';

/** First half of each lock's key, so that kinds of work never take each other's locks. */
export const LOCK_CLASS = {
  /** Deleting one company: its second half is hashtext(company id). */
  companyDelete: 0x73696c64,
  /** Starting due scheduled backups, one instance at a time: its second half is hashtext('fleet'). */
  backupSchedule: 0x73696c62,
  /** Refilling one server's warm pool, one instance at a time: its second half is hashtext(server id). */
  warmRefill: 0x73696c77,
  /**
   * Registering a server or changing its URL, one at a time across instances, so that two cannot
   * both find a cluster free (src/operations/server-clusters.ts). A transaction-level lock
   * (pg_advisory_xact_lock) with second half 0, not one taken through ifUnlocked().
   */
  serverCluster: 0x73696c73,
  /**
   * A login-limit row (src/control-plane/login-attempts.ts): transaction-level, its second half
   * the first 32 bits of the row's hashed key.
   */
  loginAttempts: 0x73696c6c,
} as const;

/** Set while a lock's work runs (and only then: background tasks it leaves see `held` false). */
const holding = new AsyncLocalStorage<{ held: boolean }>();

/**
 * Runs `work` holding the lock (lockClass, hashtext(key)), or answers `{ locked: false }` when
 * another session holds it. `locks` is the lock pool, never the one `work` uses. The lock lives on
 * a connection of it reserved while `work` runs; if that connection is lost, so is the lock.
 *
 * `work` must not take another lock: holders waiting for each other's lock connections could
 * exhaust the lock pool as they would the work pool. That is refused rather than left to chance.
 */
export async function ifUnlocked<T>(
  locks: Sql,
  lockClass: number,
  key: string,
  work: () => Promise<T>,
): Promise<{ locked: true; value: T } | { locked: false }> {
  if (holding.getStore()?.held) throw new Error('an advisory lock was taken inside the work of another; nest no locks');
  return withOneConnection(locks, async (conn) => {
    const [row] = await conn<{ locked: boolean }[]>`select pg_try_advisory_lock(${lockClass}, hashtext(${key})) as locked`;
    if (!row?.locked) return { locked: false };
    const state = { held: true };
    try {
      return { locked: true, value: await holding.run(state, work) };
    } finally {
      state.held = false;
      await conn`select pg_advisory_unlock(${lockClass}, hashtext(${key}))`.catch(() => {});
    }
  });
}
