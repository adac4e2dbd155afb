// Provisioning a company: a saga that either ends with an active company whose database exists, is
// migrated and accepts its first admin, or undoes every step it took and leaves the company
// `failed` with the reason (and a later create with the same slug retries). Where the database
// comes from is the provider's part (postgres-, neon- and external-database.ts); the rest is
// common. See docs/provisioning.md for the steps, the choices and the measured cost of each.
import { and, eq, sql as dsql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import type { Sql } from 'postgres';
import { generatePassword, hashPassword } from '../../base/auth/passwords.ts';
import type { ProvisionStep, SiloContext } from '../../context.ts';
import { companies, companyDatabaseLogs, type Provider, type CompanyRow } from '../../control-plane/schema.ts';
import { conflict, describeError, invalid, isConnectionError, pgCode, SiloError } from '../../base/errors.ts';
import { applyMigrations } from '../../base/db/migration-runner.ts';
import { neonError } from '../../providers/neon/api.ts';
import { type AuditEntry, recordAudit, SagaSteps } from '../../control-plane/audit.ts';
import { findLiveCompanyBySlug } from '../../control-plane/company-records.ts';
import { users } from '../../data-plane/schema.ts';
import type { DatabaseBuilder } from './database-builder.ts';
import { externalDatabaseBuilder } from './external-database.ts';
import { withFileStorage } from './file-storage-step.ts';
import { slugFromName, slugSchema, tenantNames } from '../../base/names.ts';
import { randomUUID } from 'node:crypto';
import { neonDatabaseBuilder } from './neon-database.ts';
import { chooseServer, type Placement } from './placement.ts';
import { postgresDatabaseBuilder } from './postgres-database.ts';
import { removeCompanyDatabase } from './tenant-database.ts';
import { inTransaction } from '../../base/db/transaction.ts';
import { isDatabaseUrl } from '../../base/db/postgres-url.ts';

export interface CreateCompanyInput {
  name: string;
  slug?: string;
  admin: { email: string; password?: string; name?: string };
  maxUsers?: number | null;
  maxStorageBytes?: number | null;
  features?: Record<string, unknown>;
  backupSchedule?: { everyHours: number; keep: number } | null;
  serverId?: string;
  /** Bring your own: a database someone else created, as the login Silo is to use. */
  externalDatabaseUrl?: string;
}

export interface ProvisionOptions {
  /** "template" (default) clones the template; "migrations" replays every migration (benchmarks). */
  via?: 'template' | 'migrations';
}

export interface ProvisionedCompany {
  company: CompanyRow;
  admin: { id: string; email: string; name: string | null; role: 'company_admin'; temporaryPassword?: string };
}

const UNIQUE_VIOLATION = '23505';

/**
 * Inserts the company as `provisioning` (with `id` when given), or takes over a `failed` row with
 * the same slug. Also used by a company made from a backup (src/operations/backups/new-company.ts).
 */
export async function claimCompanyRow(
  ctx: SiloContext,
  slug: string,
  input: Pick<CreateCompanyInput, 'name' | 'maxUsers' | 'maxStorageBytes' | 'features' | 'backupSchedule'>,
  placement: Pick<Placement, 'serverId' | 'provider'>,
  id?: string,
) {
  // The names come from the row's id: chosen here for a new row, the failed row's own on a retry.
  const values = (companyId: string) => {
    const names = tenantNames(ctx.config.dbPrefix, { id: companyId });
    return {
      name: input.name,
      status: 'provisioning' as const,
      maxUsers: input.maxUsers ?? null,
      maxStorageBytes: input.maxStorageBytes ?? null,
      features: input.features ?? {},
      backupSchedule: input.backupSchedule ?? null,
      serverId: placement.serverId,
      provider: placement.provider,
      // What a postgres server's database will be called; other providers say once it exists.
      databaseName: placement.provider === 'postgres' ? names.database : null,
      roleName: placement.provider === 'postgres' ? names.role : null,
      credentialsEncrypted: null,
      databaseUrlEncrypted: null,
      providerRef: null,
      schemaVersion: null,
      lastError: null,
    };
  };
  const newId = id ?? randomUUID();
  try {
    const [row] = await ctx.db
      .insert(companies)
      .values({ id: newId, slug, ...values(newId) })
      .returning();
    return row!;
  } catch (error) {
    if (pgCode(error) !== UNIQUE_VIOLATION) throw error;
  }
  const [failed] = await ctx.db
    .select({ id: companies.id })
    .from(companies)
    .where(and(eq(companies.slug, slug), eq(companies.status, 'failed')));
  if (failed) {
    const [retried] = await ctx.db
      .update(companies)
      .set({ ...values(failed.id), updatedAt: dsql`now()` })
      .where(and(eq(companies.id, failed.id), eq(companies.status, 'failed')))
      .returning();
    if (retried) return retried;
  }
  throw conflict(`the slug "${slug}" is already taken`);
}

export async function provisionCompany(
  ctx: SiloContext,
  input: CreateCompanyInput,
  actor: string,
  options: ProvisionOptions = {},
): Promise<ProvisionedCompany> {
  const slugResult = slugSchema.safeParse(input.slug ?? slugFromName(input.name));
  if (!slugResult.success) {
    throw invalid('invalid slug', [{ path: 'slug', message: slugResult.error.issues[0]?.message }]);
  }
  const slug = slugResult.data;
  if (input.externalDatabaseUrl !== undefined && !isDatabaseUrl(input.externalDatabaseUrl)) {
    throw invalid('externalDatabaseUrl is not a valid connection string', [
      { path: 'externalDatabaseUrl', message: 'not a valid postgres:// URL' },
    ]);
  }
  // bcrypt is the slowest single step; it runs (on a worker thread) while Postgres does
  // everything else, from the slug check on: with a warm database that is all of it.
  const temporaryPassword = input.admin.password ? undefined : generatePassword(12);
  const adminPasswordHash = hashPassword(input.admin.password ?? temporaryPassword!);
  adminPasswordHash.catch(() => {});

  // Fail fast on a taken slug, before any placement work (the insert below still decides races).
  const live = await findLiveCompanyBySlug(ctx, slug);
  if (live && live.status !== 'failed') throw conflict(`the slug "${slug}" is already taken`);
  // A failed Neon create may have left its project (its undo could not delete it): retrying makes
  // a new one, so delete the old first, or the row would forget it.
  if (live?.status === 'failed' && live.provider === 'neon') {
    await removeCompanyDatabase(ctx, live).catch((error: unknown) => {
      throw neonError(error);
    });
  }

  const placement = await chooseServer(ctx, { serverId: input.serverId, external: input.externalDatabaseUrl !== undefined });

  const row = await claimCompanyRow(ctx, slug, input, placement);
  const serverId = placement.serverId;
  const builder = withFileStorage(ctx, row.id, databaseBuilder(ctx, row.id, slug, placement, input, options));

  let client: Sql | undefined;
  const steps = new SagaSteps<ProvisionStep>({
    companyId: row.id,
    serverId,
    actor,
    action: 'provision',
    first: 'placement',
    beforeStep: (name) => ctx.beforeProvisionStep?.(name),
  });
  const { audit, run: step } = steps;
  const sagaStarted = performance.now();

  try {
    const built = await builder.build(step);
    client = built.client;
    const tenant = built.client;
    let schemaVersion = built.schemaVersion;
    if (schemaVersion === null) {
      schemaVersion = await step('migrate', async () => (await applyMigrations(tenant, ctx.tenantMigrations)).version);
    }

    const firstAdmin = await step('first_admin', async () => {
      try {
        const [user] = await drizzle(tenant)
          .insert(users)
          .values({
            email: input.admin.email,
            name: input.admin.name ?? null,
            role: 'company_admin',
            passwordHash: await adminPasswordHash,
          })
          .returning({ id: users.id, email: users.email, name: users.name });
        return user!;
      } catch (error) {
        // Only a database that already had users (an external one, attached before) gets here.
        if (pgCode(error) === UNIQUE_VIOLATION) throw conflict("the database already has a user with the admin's email");
        throw error;
      }
    });
    // Not awaited: the connection's goodbye is no part of the sign-up's answer, which waits for the
    // hash already; an error in it changes nothing (the company's pools open connections of their own).
    void tenant.end({ timeout: 5 }).catch(() => {});
    client = undefined;

    await steps.enter('activate');
    const created: AuditEntry = {
      companyId: row.id,
      serverId,
      action: 'created',
      status: 'ok',
      actor,
      durationMs: Math.round(performance.now() - sagaStarted),
      details: { via: built.via, schemaVersion },
    };
    const activated = await activateWithAudit(ctx, row.id, { ...built.location, schemaVersion }, [...audit, created]);
    await built.afterActivate?.().catch((error: unknown) => {
      ctx.log.warn({ companyId: row.id, error: describeError(error) }, 'tidying up after provisioning failed');
    });
    ctx.log.info({ companyId: row.id, slug, serverId, via: built.via }, 'company provisioned');
    // Only now, so that the clone replacing the warm database does not compete with this sign-up.
    if (built.via === 'warm') ctx.warmPool?.kick();
    return {
      company: activated,
      admin: { ...firstAdmin, role: 'company_admin', ...(temporaryPassword ? { temporaryPassword } : {}) },
    };
  } catch (failure) {
    const error = neonError(failure);
    const current = steps.current;
    const reason = `${current}: ${describeError(error)}`;
    await client?.end({ timeout: 1 }).catch(() => {});
    let cleanup = 'ok';
    try {
      await builder.undo();
    } catch (undoError) {
      // The server may be gone; `silo reconcile` finds what was left behind.
      cleanup = describeError(neonError(undoError));
    }
    const lastError = cleanup === 'ok' ? reason : `${reason}; cleanup incomplete: ${cleanup}`;
    await inTransaction(ctx.db, async (tx) => {
      await tx
        .update(companies)
        // A project id stays recorded only while its project may still exist (reconcile deletes it).
        .set({ status: 'failed', lastError, ...(cleanup === 'ok' ? { providerRef: null } : {}), updatedAt: dsql`now()` })
        .where(eq(companies.id, row.id));
      audit.push({
        companyId: row.id,
        serverId,
        action: 'created',
        status: 'failed',
        actor,
        durationMs: Math.round(performance.now() - sagaStarted),
        error: lastError,
        details: { step: current, undone: builder.created(), cleanup },
      });
      await recordAudit(tx, audit);
    });
    ctx.log.error({ companyId: row.id, slug, step: current, error: reason }, 'company provisioning failed');
    if (error instanceof SiloError) throw error;
    throw new SiloError(
      isConnectionError(error) ? 'unavailable' : 'internal',
      `provisioning failed at step "${current}"; the company is marked failed and creating it again retries`,
      { companyId: row.id, step: current },
    );
  }
}

/**
 * The company becomes active and its audit rows are written in ONE statement (the insert as a
 * data-modifying CTE of the update): Postgres runs a statement as one transaction, so the company
 * is never active without its audit trail, and the sign-up pays one round trip and one commit after
 * the password hash instead of a reserved connection's BEGIN, update, insert and COMMIT.
 */
async function activateWithAudit(
  ctx: SiloContext,
  companyId: string,
  location: Partial<typeof companies.$inferInsert>,
  audit: AuditEntry[],
): Promise<CompanyRow> {
  const written = ctx.db.$with('written').as(ctx.db.insert(companyDatabaseLogs).values(audit).returning({ id: companyDatabaseLogs.id }));
  const [updated] = await ctx.db
    .with(written)
    .update(companies)
    .set({ status: 'active', ...location, lastError: null, updatedAt: dsql`now()` })
    .where(eq(companies.id, companyId))
    .returning();
  return updated!;
}

function databaseBuilder(
  ctx: SiloContext,
  companyId: string,
  slug: string,
  placement: Placement,
  input: CreateCompanyInput,
  options: ProvisionOptions,
): DatabaseBuilder {
  const provider: Provider = placement.provider;
  if (provider === 'neon') return neonDatabaseBuilder(ctx, companyId, slug, placement.serverId);
  if (provider === 'external') return externalDatabaseBuilder(ctx, companyId, input.externalDatabaseUrl!);
  return postgresDatabaseBuilder(ctx, companyId, placement, options);
}
