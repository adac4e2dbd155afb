// A database someone else created (bring your own): Silo logs in with the connection string it was
// given, checks that the database is empty or one it was attached to before (and is not attached
// to another live company now), marks it as this company's, and lets the saga migrate it. Files kept
// when it was detached are linked to the new company (docs/files.md). Nothing is created but those
// links, which the saga's file step undoes; a migration that already committed
// stays (each is its own transaction, recorded in the database, so a retry carries on from it).
import { and, desc, eq, inArray } from 'drizzle-orm';
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
import { fileStorage } from '../../data-plane/files/index.ts';

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
 * cannot tell). One row per company it was attached to; only a live one holds it.
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

/**
 * Files kept when the database was detached stay under the deleted company's id: the files its rows
 * name are put under the new company's id (linked or copied, the old ones left until the company is
 * active, so that the saga's undo loses nothing). The previous company is taken from the database
 * only when the management database agrees: a deleted external company with the same database and
 * role names, so that a database's owner cannot name another company's files. Answers its id.
 */
async function relinkKeptFiles(
  ctx: SiloContext,
  client: Sql,
  companyId: string,
  identity: Identity & { before: string[] },
  step: StepRunner<ProvisionStep>,
): Promise<string | undefined> {
  if (identity.before.length === 0) return undefined;
  // The latest deleted: an earlier one's files were relinked to it already.
  const [previous] = await ctx.db
    .select({ id: companies.id })
    .from(companies)
    .where(
      and(
        inArray(companies.id, identity.before),
        eq(companies.status, 'deleted'),
        eq(companies.provider, 'external'),
        eq(companies.databaseName, identity.database),
        eq(companies.roleName, identity.role),
      ),
    )
    .orderBy(desc(companies.deletedAt))
    .limit(1);
  if (!previous) return undefined;
  return step('relink_files', async () => {
    const [table] = await client<{ present: boolean }[]>`select to_regclass('public.document_files') is not null as present`;
    if (!table!.present) return previous.id;
    const storage = fileStorage(ctx.config);
    for (const { id } of await client<{ id: string }[]>`select id::text from document_files`) {
      await storage.copy(previous.id, companyId, id);
    }
    return previous.id;
  });
}

async function readIdentity(client: Sql): Promise<Identity> {
  const [row] = await client<Identity[]>`
    select current_database() as database, current_user as role,
           (select count(*)::int from pg_tables where schemaname = 'public') as tables,
           to_regclass('silo.attachment') is not null as attached`;
  return row!;
}

/**
 * Writes this company into the database, unless another live company is there already; answers the
 * companies it was attached to before (no longer live).
 */
async function attach(ctx: SiloContext, client: Sql, companyId: string): Promise<string[]> {
  await client.unsafe(ATTACHMENT).catch((error: unknown) => {
    if (pgCode(error) !== '42501') throw error;
    throw invalid('the login in externalDatabaseUrl needs CREATE on its database (its owner has it): Silo keeps a schema "silo" there', [
      { path: 'externalDatabaseUrl', message: 'needs CREATE on the database' },
    ]);
  });
  return inSqlTransaction(client, async (tx) => {
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
    // The companies before stay listed (none is live): a re-attach finds the files one of them kept,
    // even after an attach that failed in between.
    await tx`insert into silo.attachment (company_id) values (${companyId}) on conflict do nothing`;
    return others;
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
          return { ...found, before: await attach(ctx, client, companyId) };
        });
        const relinked = await relinkKeptFiles(ctx, client, companyId, identity, step);
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
          afterActivate: relinked ? () => fileStorage(ctx.config).removeCompany(relinked) : undefined,
        };
      } catch (error) {
        await client.end({ timeout: 1 }).catch(() => {});
        throw error;
      }
    },
  };
}
