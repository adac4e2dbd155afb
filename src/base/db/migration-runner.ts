// Applies a migration set to one database, doing better than drizzle's own migrator on three counts:
// an advisory lock so two runners never migrate one database at once, one transaction per
// migration (a failure rolls back alone and leaves the last good version), and pending migrations
// chosen by identity rather than by "newer than the last timestamp", so a late-merged migration is
// not skipped. What is applied is recorded in drizzle's own table (drizzle.__drizzle_migrations:
// hash + created_at), so drizzle's migrator agrees with the result.
import type { Sql } from 'postgres';
import { withOneConnection } from './transaction.ts';
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

const UNDEFINED_TABLE = '42P01';

/** What the database records as applied; empty when it has no migrations table yet. */
async function readApplied(sql: Sql): Promise<AppliedRow[]> {
  try {
    const rows = await sql<{ hash: string; created_at: string }[]>`
      select hash, created_at from drizzle.__drizzle_migrations order by id`;
    return rows.map((r) => ({ hash: r.hash, createdAt: Number(r.created_at) }));
  } catch (error) {
    // One round trip in the common case, rather than asking first whether the table exists.
    if ((error as { code?: string }).code === UNDEFINED_TABLE) return [];
    throw error;
  }
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

/**
 * One migration in one transaction, sent as a single multi-statement query: one round trip
 * instead of one per statement, on the one connection withOneConnection() lends. Only text Silo controls goes into it: the migration's own SQL,
 * a timeout checked by the caller, and its hash (hex) and journal time (an integer).
 */
async function applyOne(conn: Sql, migration: Migration, lockTimeout: string): Promise<void> {
  if (!/^[0-9a-f]{64}$/.test(migration.hash) || !Number.isSafeInteger(migration.createdAt)) {
    throw new Error(`migration ${migration.tag} has an unexpected hash or time`);
  }
  const script = [
    'begin',
    `set local lock_timeout = '${lockTimeout}'`,
    ...migration.statements,
    `insert into drizzle.__drizzle_migrations (hash, created_at) values ('${migration.hash}', ${migration.createdAt})`,
    'commit',
    // A newline before each semicolon, so a statement ending in a -- comment cannot swallow it.
  ].join('\n;\n');
  try {
    await conn.unsafe(script);
  } catch (error) {
    // The failed statement aborted the transaction; end it so the connection is usable again.
    await conn.unsafe('rollback').catch(() => {});
    throw error;
  }
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
  // The lock is held by a session: every statement below must use one connection.
  return withOneConnection(sql, async (conn) => {
    const appliedNow: string[] = [];
    await conn`select pg_advisory_lock(${MIGRATION_LOCK_KEY[0]}, ${MIGRATION_LOCK_KEY[1]})`;
    try {
      // Read under the lock: another runner may have just applied what we would apply.
      const rows = await readApplied(conn);
      const before = compareWithSet(set, rows);
      if (before.pending.length > 0 && rows.length === 0) {
        await conn.unsafe(
          'create schema if not exists drizzle; ' +
            'create table if not exists drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint)',
        );
      }
      for (const migration of before.pending) {
        const started = performance.now();
        try {
          await applyOne(conn, migration, lockTimeout);
        } catch (error) {
          throw new MigrationFailedError(migration.tag, error, appliedNow);
        }
        appliedNow.push(migration.tag);
        rows.push({ hash: migration.hash, createdAt: migration.createdAt });
        options.onApplied?.(migration.tag, performance.now() - started);
      }
      return { ...compareWithSet(set, rows), appliedNow };
    } finally {
      await conn`select pg_advisory_unlock(${MIGRATION_LOCK_KEY[0]}, ${MIGRATION_LOCK_KEY[1]})`.catch(() => {});
    }
  });
}
