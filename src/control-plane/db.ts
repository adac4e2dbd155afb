// The management database connection: one postgres.js pool wrapped in drizzle, and a small pool of
// its own for advisory locks (src/base/db/advisory-lock.ts says why they must not share one).
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type { Sql } from 'postgres';
import { openPostgres } from '../base/db/postgres-client.ts';
import * as schema from './schema.ts';

export type ManagementDb = PostgresJsDatabase<typeof schema>;

export interface ManagementConnection {
  sql: Sql;
  db: ManagementDb;
  /** Only for holding advisory locks: never for the work done under them. */
  locks: Sql;
}

/**
 * How many advisory locks one instance holds at once; more takers wait for a connection. Two at
 * least: a one-connection client is shared rather than reserved (withOneConnection), and session
 * locks are re-entrant, so two takers of one key would both get it.
 */
export const LOCK_CONNECTIONS = 4;

export function connectManagement(url: string, max = 10): ManagementConnection {
  const options = {
    idle_timeout: 60,
    connect_timeout: 10,
    // postgres.js waits (3^retries)/100 s between connection attempts, up to 20 s, after failures:
    // queries queued during an outage would wait that long, and so would the first ones after it.
    // A short, bounded wait makes them fail fast (503, or a cached row) and resume at once.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
  };
  const sql = openPostgres(url, { ...options, max, connection: { application_name: 'silo-management' } });
  const locks = openPostgres(url, { ...options, max: LOCK_CONNECTIONS, connection: { application_name: 'silo-locks' } });
  return { sql, db: drizzle(sql, { schema }), locks };
}
