// A company's database handle, whichever driver reaches it: drizzle over postgres.js (postgres and
// external companies) or over @neondatabase/serverless's Pool (neon companies). Company-plane code
// is written against drizzle's common PgDatabase, so it runs unchanged on either.
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { openPostgres } from '../base/db/postgres-client.ts';
import { type RotatingLogin, retryRefusedLogins } from './rotating-login.ts';
import { neonPoolOpener } from '../providers/neon/driver.ts';

/**
 * Without drizzle's relational `db.query` API: company-plane code builds its queries, and leaving
 * the schema out spares every new pool drizzle's walk over it (its relational config), which a
 * busy server with many more companies than pools pays on each of its many cold opens.
 */
export type TenantDb = PgDatabase<PgQueryResultHKT>;
export type TenantDriver = 'postgres' | 'neon';

export interface TenantHandle {
  db: TenantDb;
  /** Ends the pool once its queries have finished. */
  end(): Promise<void>;
}

export interface TenantPoolOptions {
  max: number;
  idleTimeoutSeconds: number;
  connectTimeoutSeconds: number;
  /** The role's password, asked on every new connection instead of the URL's, for a role whose password may be rotated. */
  login?: RotatingLogin;
}

/**
 * At most one query waits behind the one running on a connection (postgres.js defaults to 100).
 * With a deeper pipeline, postgres.js 3.4.9 slows down the longer a pool stays busy: while every
 * connection has a query in flight, a connection handed one more goes back into its `busy` queue,
 * which is then never emptied, so the queue's array grows by one entry per query and is scanned
 * (indexOf) on every move. With 16 concurrent requests on a pool of 3, a warm read went from 110 to
 * 140 µs of CPU within 20 s, and a bare loop of queries from 32 to 138 µs per query within 30 s
 * (pipelines of 2 or 4 still degrade at 4-7 concurrent queries). With 1, a connection handed a
 * second query is full and leaves `busy` for good, the queue drains, and the cost stays flat
 * (~17 µs per query in that loop). The bench's bare server uses the same setting.
 *
 * Spread into the options: postgres.js reads max_pipeline (src/index.js), but its type
 * definitions leave it out.
 */
export const tenantPipelineOption: object = { max_pipeline: 1 };

function openPostgresPool(url: string, options: TenantPoolOptions): TenantHandle {
  const sql = openPostgres(url, {
    max: options.max,
    idle_timeout: options.idleTimeoutSeconds,
    connect_timeout: options.connectTimeoutSeconds,
    ...tenantPipelineOption,
    ...(options.login ? { password: () => options.login!.password() } : {}),
    connection: { application_name: 'silo-tenant' },
  });
  const client = options.login ? retryRefusedLogins(sql, options.login) : sql;
  return { db: drizzlePostgres(client), end: () => sql.end({ timeout: 5 }) };
}

export type TenantPoolOpener = (url: string, options: TenantPoolOptions) => TenantHandle;

/**
 * The function that opens a pool for a driver. Asynchronous because the Neon driver is loaded on
 * first use; the opener itself is not, so the pool map can check for room and open with no await
 * in between.
 */
export async function tenantPoolOpener(driver: TenantDriver): Promise<TenantPoolOpener> {
  if (driver === 'postgres') return openPostgresPool;
  const openNeonPool = await neonPoolOpener();
  return (url, options) => openNeonPool(url, options);
}

/** The rows of `db.execute()`: postgres.js answers an array, the Neon (pg) driver a result object. */
export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}
