// A database someone else created (bring your own): Silo logs in with the connection string it was
// given, checks that the database is empty or already a Silo tenant database, and lets the saga
// migrate it. Nothing is created, so there is nothing to undo; a migration that already committed
// stays (each is its own transaction, recorded in the database, so a retry carries on from it).
import type { SiloContext } from '../context.ts';
import { conflict, describeError, invalid, isConnectionError, pgCode, unavailable } from '../errors.ts';
import { openPostgresJs } from '../tenancy/company-database.ts';
import type { DatabaseBuilder, StepRunner } from './database-builder.ts';

const refusals: Record<string, string> = {
  '28P01': 'the database refused the login in externalDatabaseUrl',
  '28000': 'the database refused the login in externalDatabaseUrl',
  '3D000': 'the database in externalDatabaseUrl does not exist',
  '42501': 'the login in externalDatabaseUrl may not connect to that database',
};

/** The caller's mistake (400) or an unreachable server (503), said without the URL. */
function connectError(error: unknown): unknown {
  const refusal = refusals[pgCode(error) ?? ''];
  if (refusal) return invalid(refusal, [{ path: 'externalDatabaseUrl', message: refusal }]);
  // postgres.js names the host and port at most; the URL's password never reaches its errors.
  if (isConnectionError(error)) return unavailable(`the database in externalDatabaseUrl cannot be reached (${describeError(error)})`);
  return error;
}

export function externalDatabaseBuilder(ctx: SiloContext, databaseUrl: string): DatabaseBuilder {
  return {
    created: () => ({}),
    async undo() {},
    async build(step: StepRunner) {
      const client = openPostgresJs(databaseUrl);
      try {
        const identity = await step('connect', async () => {
          try {
            const [row] = await client<{ database: string; role: string; tables: number; silo: boolean }[]>`
              select current_database() as database, current_user as role,
                     (select count(*)::int from pg_tables where schemaname = 'public') as tables,
                     to_regclass('drizzle.__drizzle_migrations') is not null as silo`;
            return row!;
          } catch (error) {
            throw connectError(error);
          }
        });
        // Never run migrations over someone's unrelated tables.
        if (identity.tables > 0 && !identity.silo) {
          throw conflict('the external database has tables of its own; Silo takes an empty database or one it migrated before');
        }
        return {
          client,
          schemaVersion: null,
          via: 'external',
          location: {
            databaseName: identity.database,
            roleName: identity.role,
            credentialsEncrypted: null,
            databaseUrlEncrypted: ctx.box.seal(databaseUrl),
            providerRef: null,
          },
        };
      } catch (error) {
        await client.end({ timeout: 1 }).catch(() => {});
        throw error;
      }
    },
  };
}
