// The management database connection: one postgres.js pool wrapped in drizzle.
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type { Sql } from 'postgres';
import { openPostgres } from '../base/db/postgres-client.ts';
import * as schema from './schema.ts';

export type ManagementDb = PostgresJsDatabase<typeof schema>;

export interface ManagementConnection {
  sql: Sql;
  db: ManagementDb;
}

export function connectManagement(url: string, max = 10): ManagementConnection {
  const sql = openPostgres(url, {
    max,
    idle_timeout: 60,
    connect_timeout: 10,
    // postgres.js waits (3^retries)/100 s between connection attempts, up to 20 s, after failures:
    // queries queued during an outage would wait that long, and so would the first ones after it.
    // A short, bounded wait makes them fail fast (503, or a cached row) and resume at once.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    connection: { application_name: 'silo-management' },
  });
  return { sql, db: drizzle(sql, { schema }) };
}
