// Applies a migration set to one database, doing better than drizzle's own migrator on three counts:
// an advisory lock so two runners never migrate one database at once, one transaction per
// migration (a failure rolls back alone and leaves the last good version), and pending migrations
// chosen by identity rather than by "newer than the last timestamp", so a late-merged migration is
// not skipped. What is applied is recorded in drizzle's own table (drizzle.__drizzle_migrations:
// hash + created_at), so drizzle's migrator agrees with the result.
import type { Sql } from 'postgres';
import type { Migration, MigrationSet } from './migration-set.ts';

// One fixed advisory-lock key per database: "silo" + "migr" as two 32-bit halves.
const MIGRATION_LOCK_KEY = [0x73696c6f, 0x6d696772] as const;

export interface AppliedRow {
  hash: string;
  createdAt: number;
}

export interface Drift {
  tag: string;
  /** The hash recorded when the migration was applied; the file now hashes differently. */
  appliedHash: string;
  fileHash: string;
}

export interface MigrationState {
  /** Tags applied, in journal order. */
  applied: string[];
  pending: Migration[];
  drift: Drift[];
  /** The tag of the newest applied migration in journal order, or null when none is. */
  version: string | null;
}

export interface ApplyResult extends MigrationState {
  /** Tags this call applied, in order. */
  appliedNow: string[];
}

export class MigrationFailedError extends Error {
  override name = 'MigrationFailedError';
  constructor(
    readonly tag: string,
    readonly reason: unknown,
    readonly appliedNow: string[],
  ) {
    super(`migration ${tag} failed: ${reason instanceof Error ? reason.message : String(reason)}`);
  }
}

async function readApplied(sql: Sql): Promise<AppliedRow[]> {
  const [exists] = await sql<{ present: boolean }[]>`
    select to_regclass('drizzle.__drizzle_migrations') is not null as present`;
  if (!exists?.present) return [];
  const rows = await sql<{ hash: string; created_at: string }[]>`
    select hash, created_at from drizzle.__drizzle_migrations order by id`;
  return rows.map((r) => ({ hash: r.hash, createdAt: Number(r.created_at) }));
}

/** Compares what a database records with the files: applied, pending and drifted migrations. */
export function compareWithSet(set: MigrationSet, rows: AppliedRow[]): MigrationState {
  const byHash = new Set(rows.map((r) => r.hash));
  const byCreatedAt = new Map(rows.map((r) => [r.createdAt, r.hash]));
  const applied: string[] = [];
  const pending: Migration[] = [];
  const drift: Drift[] = [];
  for (const m of set.migrations) {
    if (byHash.has(m.hash)) {
      applied.push(m.tag);
      continue;
    }
    // Same journal identity, different text: the file was edited after it was applied.
    const appliedHash = byCreatedAt.get(m.createdAt);
    if (appliedHash !== undefined) {
      applied.push(m.tag);
      drift.push({ tag: m.tag, appliedHash, fileHash: m.hash });
      continue;
    }
    pending.push(m);
  }
  return { applied, pending, drift, version: applied.at(-1) ?? null };
}

export async function readMigrationState(sql: Sql, set: MigrationSet): Promise<MigrationState> {
  return compareWithSet(set, await readApplied(sql));
}

export interface ApplyOptions {
  /** Per migration: how long a statement may wait for a lock before the migration fails. */
  lockTimeout?: string;
  onApplied?: (tag: string, durationMs: number) => void;
}

/**
 * Applies every pending migration in journal order. Throws MigrationFailedError on the first
 * failure, after which the database holds every migration before it and nothing of it.
 */
export async function applyMigrations(sql: Sql, set: MigrationSet, options: ApplyOptions = {}): Promise<ApplyResult> {
  const lockTimeout = options.lockTimeout ?? '5s';
  if (!/^\d+(ms|s|min)?$/.test(lockTimeout)) throw new Error('lockTimeout must look like 5s or 500ms');
  const conn = await sql.reserve();
  const appliedNow: string[] = [];
  try {
    await conn`select pg_advisory_lock(${MIGRATION_LOCK_KEY[0]}, ${MIGRATION_LOCK_KEY[1]})`;
    try {
      // Read under the lock: another runner may have just applied what we would apply.
      const before = await readMigrationState(conn, set);
      if (before.pending.length > 0) {
        await conn`create schema if not exists drizzle`;
        await conn`create table if not exists drizzle.__drizzle_migrations (
          id serial primary key, hash text not null, created_at bigint)`;
      }
      for (const migration of before.pending) {
        const started = performance.now();
        try {
          // A reserved connection has no sql.begin(): the transaction is spelled out.
          await conn.unsafe('begin');
          try {
            await conn.unsafe(`set local lock_timeout = '${lockTimeout}'`);
            for (const statement of migration.statements) await conn.unsafe(statement);
            await conn`insert into drizzle.__drizzle_migrations (hash, created_at)
              values (${migration.hash}, ${migration.createdAt})`;
            await conn.unsafe('commit');
          } catch (error) {
            await conn.unsafe('rollback').catch(() => {});
            throw error;
          }
        } catch (error) {
          throw new MigrationFailedError(migration.tag, error, appliedNow);
        }
        appliedNow.push(migration.tag);
        options.onApplied?.(migration.tag, performance.now() - started);
      }
      const after = await readMigrationState(conn, set);
      return { ...after, appliedNow };
    } finally {
      await conn`select pg_advisory_unlock(${MIGRATION_LOCK_KEY[0]}, ${MIGRATION_LOCK_KEY[1]})`.catch(() => {});
    }
  } finally {
    conn.release();
  }
}
