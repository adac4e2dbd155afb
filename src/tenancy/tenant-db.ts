// A company's database handle, whichever driver reaches it: drizzle over postgres.js (postgres and
// external companies) or over @neondatabase/serverless's Pool (neon companies). Company-plane code
// is written against drizzle's common PgDatabase, so it runs unchanged on either.
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import { openNeonPool } from '../providers/neon/driver.ts';
import * as tenantSchema from '../tenant/schema.ts';

export type TenantDb = PgDatabase<PgQueryResultHKT, typeof tenantSchema>;
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
}

export function openTenantPool(driver: TenantDriver, url: string, options: TenantPoolOptions): TenantHandle {
  if (driver === 'neon') return openNeonPool(url, options, tenantSchema);
  const sql = postgres(url, {
    max: options.max,
    idle_timeout: options.idleTimeoutSeconds,
    connect_timeout: options.connectTimeoutSeconds,
    onnotice: () => {},
    connection: { application_name: 'silo-tenant' },
  });
  return { db: drizzlePostgres(sql, { schema: tenantSchema }), end: () => sql.end({ timeout: 5 }) };
}

/** The rows of `db.execute()`: postgres.js answers an array, the Neon (pg) driver a result object. */
export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}
