// The shared reference database (docs/shared-data.md): created next to the management database on
// the management server at start, migrated with the same runner as every other database, closed to
// every role but Silo's own login. Companies read it only through Silo's API, which merges it
// with their own rows; no company role can connect to it.
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type { Sql } from 'postgres';
import { ensureDatabase } from '../base/db/ensure-database.ts';
import { applyMigrations } from '../base/db/migration-runner.ts';
import type { MigrationSet } from '../base/db/migration-set.ts';
import { openPostgres } from '../base/db/postgres-client.ts';
import type { Logger } from '../base/logger.ts';
import { sharedDatabaseName } from '../base/names.ts';
import { closeToPublic } from './connect-privileges.ts';
import * as schema from './shared-schema.ts';

export type SharedDb = PostgresJsDatabase<typeof schema>;

export interface SharedConnection {
  sql: Sql;
  db: SharedDb;
}

/**
 * Creates the shared database on the server of `managementUrl` unless it exists, applies its
 * migrations under the runner's advisory lock (instances starting together wait for each other),
 * revokes CONNECT from PUBLIC, and opens a small pool on it.
 */
export async function openSharedDatabase(
  managementUrl: string,
  prefix: string,
  migrations: MigrationSet,
  log: Logger,
): Promise<SharedConnection> {
  const url = await ensureDatabase(managementUrl, sharedDatabaseName(prefix));
  const migrator = openPostgres(url, { max: 1, connection: { application_name: 'silo-migrate' } });
  try {
    await applyMigrations(migrator, migrations);
    await closeToPublic(migrator, log);
  } finally {
    await migrator.end({ timeout: 5 });
  }
  // Reads are one short query per request; a few connections serve many requests.
  const sql = openPostgres(url, { max: 4, idle_timeout: 60, connect_timeout: 10, connection: { application_name: 'silo-shared' } });
  return { sql, db: drizzle(sql, { schema }) };
}
