// The management database connection: one postgres.js pool wrapped in drizzle.
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type { Sql } from 'postgres';
import { openPostgres } from '../db/postgres-client.ts';
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
    onnotice: () => {},
    connection: { application_name: 'silo-management' },
  });
  return { sql, db: drizzle(sql, { schema }) };
}
