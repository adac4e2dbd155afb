// A database someone else created (bring your own): Silo logs in with the connection string it was
// given, checks that the database is empty or one it was attached to before (and is not attached
// to another live company now), marks it as this company's, and lets the saga migrate it. Nothing is created, so there is nothing to undo; a migration that already committed
// stays (each is its own transaction, recorded in the database, so a retry carries on from it).
import { and, inArray } from 'drizzle-orm';
import type { Sql } from 'postgres';
import type { SiloContext } from '../../context.ts';
import { companies } from '../../control-plane/schema.ts';
import { conflict, describeError, invalid, isConnectionError, pgCode, unavailable } from '../../base/errors.ts';
import { inSqlTransaction } from '../../base/db/transaction.ts';
import { openPostgresJs } from '../../data-plane/company-database.ts';
import type { DatabaseBuilder } from './database-builder.ts';
import type { StepRunner } from '../../control-plane/audit.ts';
import type { ProvisionStep } from '../../context.ts';
import { sealedAt } from '../../base/crypto/credentials.ts';

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

/**
 * Which company a database is attached to is written into the database itself, so that one
 * database is never served as two companies (it could be reached by other host names, so the URL
 * cannot tell). One row; a company that is no longer live (deleted, failed) does not hold it.
 */
const ATTACHMENT = `
  create schema if not exists silo;
  create table if not exists silo.attachment (
    company_id uuid primary key,
    attached_at timestamptz not null default now()
  )`;

interface Identity {
  database: string;
  role: string;
  /** Tables in `public`. */
  tables: number;
  /** Attached to a Silo company before (now or in the past). */
  attached: boolean;
}

async function readIdentity(client: Sql): Promise<Identity> {
  const [row] = await client<Identity[]>`
    select current_database() as database, current_user as role,
           (select count(*)::int from pg_tables where schemaname = 'public') as tables,
           to_regclass('silo.attachment') is not null as attached`;
  return row!;
}

/** Writes this company into the database, unless another live company is there already. */
async function attach(ctx: SiloContext, client: Sql, companyId: string): Promise<void> {
  await client.unsafe(ATTACHMENT).catch((error: unknown) => {
    if (pgCode(error) !== '42501') throw error;
    throw invalid('the login in externalDatabaseUrl needs CREATE on its database (its owner has it): Silo keeps a schema "silo" there', [
      { path: 'externalDatabaseUrl', message: 'needs CREATE on the database' },
    ]);
  });
  await inSqlTransaction(client, async (tx) => {
    // Two registrations of one database at once: the second waits here and then sees the first.
    await tx`lock table silo.attachment in exclusive mode`;
    const holders = (await tx<{ company_id: string }[]>`select company_id from silo.attachment`).map((r) => r.company_id);
    const others = holders.filter((id) => id !== companyId);
    if (others.length > 0) {
      const live = await ctx.db
        .select({ slug: companies.slug })
        .from(companies)
        .where(and(inArray(companies.id, others), inArray(companies.status, ['provisioning', 'active', 'suspended'])));
      if (live[0]) throw conflict(`that database is already the database of company "${live[0].slug}"`);
    }
    await tx`delete from silo.attachment`;
    await tx`insert into silo.attachment (company_id) values (${companyId})`;
  });
}

export function externalDatabaseBuilder(ctx: SiloContext, companyId: string, databaseUrl: string): DatabaseBuilder {
  return {
    created: () => ({}),
    async undo() {},
    async build(step: StepRunner<ProvisionStep>) {
      const client = openPostgresJs(databaseUrl);
      try {
        const identity = await step('connect', async () => {
          const found = await readIdentity(client).catch((error: unknown) => {
            throw connectError(error);
          });
          // Never run migrations over someone's unrelated tables.
          if (found.tables > 0 && !found.attached) {
            throw conflict('the external database has tables of its own; Silo takes an empty database or one it was attached to before');
          }
          await attach(ctx, client, companyId);
          return found;
        });
        return {
          client,
          schemaVersion: null,
          via: 'external',
          location: {
            databaseName: identity.database,
            roleName: identity.role,
            credentialsEncrypted: null,
            databaseUrlEncrypted: ctx.box.seal(databaseUrl, sealedAt.companyDatabaseUrl(companyId)),
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
