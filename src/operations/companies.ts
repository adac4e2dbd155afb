// System-admin operations on companies: list, change, delete, and look into their databases.
import { and, eq, ilike, ne, or, sql as dsql, type SQL } from 'drizzle-orm';
import type { SiloContext } from '../context.ts';
import { companies, companyDatabaseLogs, type CompanyStatus, type CompanyRow } from '../control-plane/schema.ts';
import { conflict, describeError, isConnectionError, pgCode, SiloError, unavailable } from '../base/errors.ts';
import { readMigrationState } from '../base/db/migration-runner.ts';
import { removeCompanyDatabase } from './provisioning/tenant-database.ts';
import { neonError } from '../providers/neon/api.ts';
import { hasDatabase, openAsCompany } from '../data-plane/company-database.ts';
import type { Sql } from 'postgres';
import { recordAudit } from '../control-plane/audit.ts';
import { getCompany, isServable } from '../control-plane/company-records.ts';
import { keyset, serialKeyset, toPage, toSerialPage, type Page } from '../base/pagination.ts';
import { ifUnlocked, LOCK_CLASS } from '../base/db/advisory-lock.ts';
import { inTransaction } from '../base/db/transaction.ts';
import { archiveCompany, unarchiveCompany } from './backups/archive-company.ts';
import { markDeleted, markDeletedWithLeftovers } from './forced-delete.ts';
import { fileStorage } from '../data-plane/files/index.ts';

export interface ListCompaniesQuery {
  status?: CompanyStatus;
  q?: string;
  limit: number;
  cursor?: string;
}

/** Newest first, keyset-paginated on (created_at, id). */
export async function listCompanies(ctx: SiloContext, query: ListCompaniesQuery): Promise<Page<CompanyRow>> {
  const where: SQL[] = [];
  if (query.status) where.push(eq(companies.status, query.status));
  else where.push(ne(companies.status, 'deleted'));
  if (query.q) {
    const pattern = `%${query.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    where.push(or(ilike(companies.name, pattern), ilike(companies.slug, pattern))!);
  }
  const page = keyset({ createdAt: companies.createdAt, id: companies.id }, query);
  const rows = await ctx.db
    .select()
    .from(companies)
    .where(and(...where, page.where))
    .orderBy(...page.orderBy)
    .limit(page.limit);
  return toPage(rows, query.limit, (row) => row);
}

export interface UpdateCompanyInput {
  name?: string;
  status?: 'active' | 'suspended' | 'archived';
  maxUsers?: number | null;
  maxStorageBytes?: number | null;
  features?: Record<string, unknown>;
  backupSchedule?: { everyHours: number; keep: number } | null;
}

export async function updateCompany(ctx: SiloContext, idOrSlug: string, given: UpdateCompanyInput, actor: string): Promise<CompanyRow> {
  let company = await getCompany(ctx, idOrSlug);
  let input = given;
  // Archiving and unarchiving take a backup and drop a database, or restore one (docs/backups.md);
  // the other fields change afterwards.
  if (input.status === 'archived' || (company.status === 'archived' && input.status === 'active')) {
    const { status, ...rest } = input;
    if (status !== company.status) {
      company = status === 'archived' ? await archiveCompany(ctx, company.id, actor) : await unarchiveCompany(ctx, company.id, actor);
    }
    input = rest;
    if (Object.values(input).every((v) => v === undefined)) return company;
  }
  if (input.status && input.status !== company.status && !isServable(company)) {
    throw conflict(`a ${company.status} company cannot be made ${input.status}`);
  }
  if (company.status === 'deleted') throw conflict('a deleted company cannot be changed');
  const statusChange = input.status && input.status !== company.status ? input.status : undefined;
  const result = await inTransaction(ctx.db, async (tx) => {
    const [updated] = await tx
      .update(companies)
      .set({
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.maxUsers !== undefined ? { maxUsers: input.maxUsers } : {}),
        ...(input.maxStorageBytes !== undefined ? { maxStorageBytes: input.maxStorageBytes } : {}),
        ...(input.features !== undefined ? { features: input.features } : {}),
        ...(input.backupSchedule !== undefined ? { backupSchedule: input.backupSchedule } : {}),
        ...(statusChange ? { status: statusChange } : {}),
        updatedAt: dsql`now()`,
      })
      // Guard on the status read above, so a concurrent delete is not overwritten.
      .where(and(eq(companies.id, company.id), eq(companies.status, company.status)))
      .returning();
    if (!updated) throw conflict('the company changed while this request ran; try again');
    if (statusChange) {
      await recordAudit(tx, [
        {
          companyId: company.id,
          serverId: company.serverId,
          action: statusChange === 'suspended' ? 'suspended' : 'resumed',
          status: 'ok',
          actor,
        },
      ]);
    }
    return updated;
  });
  // After the commit, so that no instance can re-read the old row: every instance drops its
  // cached row (and its pool, which a suspension must stop at once).
  await ctx.tenants.companyChanged(company.id);
  return result;
}

/**
 * Drops the company's database and role (a neon company: its project) and keeps its row as
 * `deleted`. An external database is detached, and dropped only with `dropDatabase`. `confirm` must
 * be the slug. When the database cannot be reached nothing changes, so the delete can be repeated.
 */
export async function deleteCompany(
  ctx: SiloContext,
  idOrSlug: string,
  confirm: string | undefined,
  actor: string,
  options: DeleteOptions = {},
) {
  const found = await getCompany(ctx, idOrSlug);
  if (confirm !== found.slug) {
    throw conflict("deleting needs confirmation: repeat the company's slug (the X-Confirm header, or --confirm)", {
      confirm: found.slug,
    });
  }
  // One delete of a company at a time, in every instance: the others answer 409 rather than
  // finding its database gone under them (and answering 503) or deleting it a second time.
  const attempt = await ifUnlocked(ctx.locks, LOCK_CLASS.companyDelete, found.id, () => deleteUnlocked(ctx, found.id, actor, options));
  if (!attempt.locked) throw conflict('the company is being deleted by another request');
  return attempt.value;
}

export interface DeleteOptions {
  dropDatabase?: boolean;
  /** Mark it deleted even when its database cannot be reached, recording what was left (forced-delete.ts). */
  force?: boolean;
}

/** deleteCompany() under its lock; the row is read again, as a delete may have just finished. */
async function deleteUnlocked(ctx: SiloContext, id: string, actor: string, options: DeleteOptions) {
  const company = await getCompany(ctx, id);
  if (company.status === 'deleted') throw conflict('the company is already deleted');
  if (company.status === 'provisioning') throw conflict('the company is being provisioned; try again shortly');
  const started = performance.now();
  // Stop serving it first: its pool holds connections that DROP DATABASE would have to force out.
  await ctx.tenants.companyChanged(company.id);
  let outcome: Awaited<ReturnType<typeof removeCompanyDatabase>>;
  try {
    outcome = await removeCompanyDatabase(ctx, company, { dropExternal: options.dropDatabase === true });
  } catch (failure) {
    const error = neonError(failure);
    await recordAudit(ctx.db, [
      {
        companyId: company.id,
        serverId: company.serverId,
        action: 'deleted',
        status: 'failed',
        actor,
        durationMs: Math.round(performance.now() - started),
        error: describeError(error),
      },
    ]);
    const unreachable = error instanceof SiloError ? error.code === 'unavailable' : !(company.provider === 'external' && pgCode(error));
    if (options.force && unreachable) {
      return markDeletedWithLeftovers(ctx, company, actor, describeError(error), Math.round(performance.now() - started));
    }
    if (error instanceof SiloError && error.code !== 'validation_failed') throw error;
    if (company.provider === 'external' && pgCode(error)) {
      throw conflict(`the external database could not be dropped (${describeError(error)}); nothing was deleted`);
    }
    throw unavailable("the company's database cannot be reached; nothing was deleted (force marks it deleted all the same)");
  }
  const files = await removeCompanyFiles(ctx, company, outcome === 'detached' && options.dropDatabase !== true);
  const deleted = await markDeleted(ctx, company, {
    actor,
    durationMs: Math.round(performance.now() - started),
    details: { database: outcome, files },
  });
  ctx.log.info({ companyId: company.id, slug: company.slug }, 'company deleted');
  return deleted;
}

/**
 * The company's file storage goes with its database; a detached bring-your-own company keeps its
 * files (its database still names them) unless its database is dropped too. A failure is reported
 * in the audit row and the log, not raised: the database is gone already.
 */
async function removeCompanyFiles(ctx: SiloContext, company: CompanyRow, keep: boolean): Promise<string> {
  if (keep) return 'kept';
  try {
    await fileStorage(ctx.config).removeCompany(company.id);
    return 'removed';
  } catch (error) {
    ctx.log.error({ companyId: company.id, error: describeError(error) }, "the company's files could not be removed");
    return `not removed: ${describeError(error)}`;
  }
}

export async function companyLogs(ctx: SiloContext, idOrSlug: string, limit: number, cursor?: string) {
  const company = await getCompany(ctx, idOrSlug);
  const page = serialKeyset(companyDatabaseLogs.id, { limit, cursor });
  const rows = await ctx.db
    .select()
    .from(companyDatabaseLogs)
    .where(and(eq(companyDatabaseLogs.companyId, company.id), page.where))
    .orderBy(...page.orderBy)
    .limit(page.limit);
  return toSerialPage(rows, limit, (r) => ({
    id: r.id,
    action: r.action,
    status: r.status,
    actor: r.actor,
    durationMs: r.durationMs,
    error: r.error,
    details: r.details,
    serverId: r.serverId,
    createdAt: r.createdAt.toISOString(),
  }));
}

async function withCompanyDatabase<T>(ctx: SiloContext, company: CompanyRow, run: (sql: Sql) => Promise<T>) {
  if (!hasDatabase(company)) throw conflict(`the company is ${company.status} and has no database to reach`);
  const sql = await openAsCompany(ctx, company);
  try {
    return await run(sql);
  } catch (error) {
    if (isConnectionError(error)) throw unavailable('the company database cannot be reached');
    throw error;
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** Why a database would not let the company in: its login, its database, or its connect right refused. */
const REFUSED_LOGIN = /^(28000|28P01|3D000|42501|53300|57P03)$/;

/**
 * Connects as the company's role and reports. A database that cannot be reached or refuses the
 * login is a result of the test (`ok: false` and why), not an error of the request.
 */
export async function testCompanyDatabase(ctx: SiloContext, idOrSlug: string) {
  const company = await getCompany(ctx, idOrSlug);
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 100) / 100;
  try {
    return await withCompanyDatabase(ctx, company, async (sql) => {
      const [row] = await sql<{ version: string }[]>`select current_setting('server_version') as version`;
      const latencyMs = elapsed();
      const state = await readMigrationState(sql, ctx.tenantMigrations);
      return {
        ok: true,
        latencyMs,
        serverVersion: row!.version,
        schemaVersion: state.version,
        pendingMigrations: state.pending.length,
      };
    });
  } catch (error) {
    const unreachable = error instanceof SiloError && error.code === 'unavailable';
    if (!unreachable && !REFUSED_LOGIN.test(pgCode(error) ?? '')) throw error;
    // The server's own words (they name the role, never its password) or "cannot be reached".
    const reason = unreachable ? error.message : describeError(error);
    return { ok: false, latencyMs: elapsed(), serverVersion: null, schemaVersion: company.schemaVersion, pendingMigrations: null, reason };
  }
}

export async function companyStats(ctx: SiloContext, idOrSlug: string) {
  const company = await getCompany(ctx, idOrSlug);
  return withCompanyDatabase(ctx, company, async (sql) => {
    const [size] = await sql<{ bytes: string; connections: number }[]>`
      select pg_database_size(current_database())::text as bytes,
             (select count(*)::int from pg_stat_activity where datname = current_database()) as connections`;
    const tables = await sql<{ name: string }[]>`
      select tablename as name from pg_tables where schemaname = 'public' order by tablename`;
    const rowsPerTable: Record<string, number> = {};
    for (const { name } of tables) {
      const [count] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(name)}`;
      rowsPerTable[name] = count!.n;
    }
    // A company not yet migrated to the files' table has none.
    const [files] =
      rowsPerTable.document_files === undefined
        ? [{ bytes: '0', n: 0 }]
        : await sql<{ bytes: string; n: number }[]>`select coalesce(sum(size), 0)::text as bytes, count(*)::int as n from document_files`;
    return {
      databaseSizeBytes: Number(size!.bytes),
      storageBytes: Number(files!.bytes),
      files: files!.n,
      maxStorageBytes: company.maxStorageBytes,
      rowsPerTable,
      users: rowsPerTable.users ?? 0,
      documents: rowsPerTable.documents ?? 0,
      // This request's own connection is one of them.
      openConnections: size!.connections,
    };
  });
}
