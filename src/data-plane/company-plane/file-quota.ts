// A company's storage quota (maxStorageBytes, docs/files.md): what its files take, and the bytes
// held for uploads in progress. An upload holds room before it stores bytes: all of it at once when
// the request says its length, else step by step as the bytes arrive, so that an upload past the
// limit fails before it is stored and concurrent uploads can never pass the limit together (each
// check counts the others' holds under one lock). The row is written again when the upload ends,
// under the same lock, with the same count: that is what makes "never over the limit" hold.
import { sql } from 'drizzle-orm';
import { SiloError } from '../../base/errors.ts';
import { inTransaction } from '../../base/db/transaction.ts';
import type { TenantDb } from '../pool-map.ts';
import { rowsOf } from '../tenant-db.ts';

// One key for "the company's stored bytes" in each tenant database.
const STORAGE_LOCK = 0x66696c65;
/**
 * An upload of unknown length holds up to this much more than it has received, so that it asks
 * seldom; near the limit, a quarter of what is free at most, so that room held ahead by some
 * uploads does not turn others away while the files would fit.
 */
const STEP_BYTES = 4 * 1024 * 1024;
/** A hold not renewed for this long belongs to an upload that died with its instance. */
const STALE_AFTER = '15 minutes';

function overLimit(maxStorageBytes: number, usedBytes: number, wanted: number): SiloError {
  return new SiloError(
    'limit_exceeded',
    `the company's plan allows at most ${maxStorageBytes} bytes of files (${usedBytes} are used or held by uploads in progress)`,
    { maxStorageBytes, usedBytes, wanted },
  );
}

/** Bytes of the company's stored files. */
export async function storedBytes(db: TenantDb): Promise<{ bytes: number; files: number }> {
  const [row] = rowsOf<{ bytes: string; files: number }>(
    await db.execute(sql`select coalesce(sum(size), 0)::text as bytes, count(*)::int as files from document_files`),
  );
  return { bytes: Number(row!.bytes), files: row!.files };
}

/**
 * Under the lock: the bytes used (stored files and the other uploads' live holds). Holds gone
 * stale are removed on the way.
 */
async function usedBytes(tx: TenantDb, exceptHold: string): Promise<number> {
  await tx.execute(sql`select pg_advisory_xact_lock(${STORAGE_LOCK})`);
  await tx.execute(sql`delete from file_reservations where renewed_at < now() - ${STALE_AFTER}::interval`);
  const [row] = rowsOf<{ used: string }>(
    await tx.execute(sql`
      select ((select coalesce(sum(size), 0) from document_files) +
              (select coalesce(sum(bytes), 0) from file_reservations where id <> ${exceptHold}))::text as used`),
  );
  return Number(row!.used);
}

/** Room held for one upload; `release()` in every outcome. */
export class StorageHold {
  private held = 0;
  /** The cover() under way, if any: release() waits for it, or its insert could land after the delete. */
  private covering: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: TenantDb,
    readonly id: string,
    private readonly maxStorageBytes: number | null,
  ) {}

  /** Whether `total` bytes are held already (or need no hold: no limit), so that cover() has nothing to do. */
  covers(total: number): boolean {
    return this.maxStorageBytes === null || total <= this.held;
  }

  /** Makes sure `total` bytes are held (409 limit_exceeded when they cannot be); `exact`: hold no more. */
  async cover(total: number, exact = false): Promise<void> {
    const max = this.maxStorageBytes;
    if (max === null || this.covers(total)) return;
    const covering = inTransaction(this.db, async (tx) => {
      const used = await usedBytes(tx, this.id);
      if (used + total > max) throw overLimit(max, used, total);
      const wanted = exact ? total : total + Math.min(STEP_BYTES, Math.floor((max - used - total) / 4));
      await tx.execute(sql`
        insert into file_reservations (id, bytes) values (${this.id}, ${wanted})
        on conflict (id) do update set bytes = excluded.bytes, renewed_at = now()`);
      this.held = wanted;
    });
    this.covering = covering.catch(() => {});
    await covering;
  }

  /**
   * Runs `insert` (the file's row) with the hold let go in the same transaction, after checking
   * again under the lock that the file fits: a hold that went stale meanwhile counts for nothing.
   */
  async commit<T>(size: number, insert: (tx: TenantDb) => Promise<T>): Promise<T> {
    const max = this.maxStorageBytes;
    // No limit: no hold was written, and the row is one statement: no transaction (the lending of a
    // connection, BEGIN and COMMIT are most of a small upload's database time).
    if (max === null) return insert(this.db);
    return inTransaction(this.db, async (tx) => {
      const used = await usedBytes(tx, this.id);
      if (used + size > max) throw overLimit(max, used, size);
      await tx.execute(sql`delete from file_reservations where id = ${this.id}`);
      return insert(tx);
    });
  }

  async release(): Promise<void> {
    if (this.maxStorageBytes === null) return;
    // A failed upload's stream can be destroyed while its meter's cover() is still in its
    // transaction (a destroyed stream does not wait for its pending write).
    await this.covering;
    await this.db.execute(sql`delete from file_reservations where id = ${this.id}`);
  }
}
