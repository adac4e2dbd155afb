// Provisioning a company: a saga that either ends with an active company whose database exists, is
// migrated and accepts its first admin, or undoes every step it took and leaves the company
// `failed` with the reason (and a later create with the same slug retries). See
// docs/provisioning.md for the steps, the choices and the measured cost of each.
import { and, eq, sql as dsql } from 'drizzle-orm';
import type { Sql } from 'postgres';
import { generatePassword, hashPassword } from '../auth/passwords.ts';
import type { ProvisionStep, SiloContext } from '../context.ts';
import { companies } from '../control-plane/schema.ts';
import { scramSha256Verifier } from '../crypto/scram.ts';
import { conflict, describeError, invalid, isConnectionError, pgCode, SiloError } from '../errors.ts';
import { applyMigrations } from '../migrations/runner.ts';
import { recordAudit, type AuditEntry } from '../services/audit.ts';
import { findLiveCompanyBySlug, type CompanyRow } from '../services/company-records.ts';
import { letAdminActAs } from './admin-role.ts';
import { quoteIdent, quoteLiteral, slugFromName, slugSchema, templateNames, tenantNames } from './names.ts';
import { chooseServer } from './placement.ts';
import { ensureTemplate } from './template.ts';
import { dropTenantDatabase } from './tenant-database.ts';
import { users } from '../tenant/schema.ts';
import { drizzle } from 'drizzle-orm/postgres-js';

export interface CreateCompanyInput {
  name: string;
  slug?: string;
  admin: { email: string; password?: string; name?: string };
  maxUsers?: number | null;
  features?: Record<string, unknown>;
  serverId?: string;
}

export interface ProvisionOptions {
  /** "template" (default) clones the template; "migrations" replays every migration (benchmarks). */
  via?: 'template' | 'migrations';
}

export interface ProvisionedCompany {
  company: CompanyRow;
  admin: { id: string; email: string; name: string | null; role: 'company_admin'; temporaryPassword?: string };
}

const OBJECT_IN_USE = '55006';
const UNIQUE_VIOLATION = '23505';

/** Inserts the company as `provisioning`, or takes over a `failed` row with the same slug. */
async function claimCompanyRow(ctx: SiloContext, slug: string, input: CreateCompanyInput, serverId: string) {
  const names = tenantNames(ctx.config.dbPrefix, slug);
  const values = {
    name: input.name,
    status: 'provisioning' as const,
    maxUsers: input.maxUsers ?? null,
    features: input.features ?? {},
    serverId,
    databaseName: names.database,
    roleName: names.role,
    credentialsEncrypted: null,
    schemaVersion: null,
    lastError: null,
  };
  try {
    const [row] = await ctx.db.insert(companies).values({ slug, ...values }).returning();
    return row!;
  } catch (error) {
    if (pgCode(error) !== UNIQUE_VIOLATION) throw error;
  }
  const [retried] = await ctx.db
    .update(companies)
    .set({ ...values, updatedAt: dsql`now()` })
    .where(and(eq(companies.slug, slug), eq(companies.status, 'failed')))
    .returning();
  if (retried) return retried;
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
  // Fail fast on a taken slug, before any placement work (the insert below still decides races).
  const live = await findLiveCompanyBySlug(ctx, slug);
  if (live && live.status !== 'failed') throw conflict(`the slug "${slug}" is already taken`);

  // bcrypt is the slowest single step; it runs while Postgres does the rest.
  const temporaryPassword = input.admin.password ? undefined : generatePassword(12);
  const adminPasswordHash = hashPassword(input.admin.password ?? temporaryPassword!);
  adminPasswordHash.catch(() => {});

  const placement = await chooseServer(ctx, input.serverId);
  const row = await claimCompanyRow(ctx, slug, input, placement.serverId);
  const names = tenantNames(ctx.config.dbPrefix, slug);
  const serverId = placement.serverId;
  let admin: Sql | undefined;

  const audit: AuditEntry[] = [];
  const created = { role: false, database: false };
  let tenantClient: Sql | undefined;
  let current: ProvisionStep = 'placement';
  const sagaStarted = performance.now();

  const step = async <T>(name: ProvisionStep, run: () => Promise<T>): Promise<T> => {
    current = name;
    await ctx.beforeProvisionStep?.(name);
    const started = performance.now();
    const result = await run();
    audit.push({
      companyId: row.id,
      serverId,
      action: `provision.${name}`,
      status: 'ok',
      actor,
      durationMs: Math.round(performance.now() - started),
    });
    return result;
  };

  const rolePassword = generatePassword(24);
  try {
    admin = await ctx.servers.admin(serverId);
    const server = admin;
    await step('role', async () => {
      await server.unsafe(
        `create role ${quoteIdent(names.role)} login password ${quoteLiteral(scramSha256Verifier(rolePassword))}`,
      );
      created.role = true;
      await letAdminActAs(server, names.role);
    });

    let schemaVersion: string | null = null;
    const wantTemplate = (options.via ?? 'template') === 'template';
    let cloned = false;
    await step('database', async () => {
      if (wantTemplate) {
        let templateVersion = placement.templateVersion;
        if (templateVersion !== ctx.tenantMigrations.latest) {
          templateVersion = await ensureTemplate(ctx, serverId).catch((error: unknown) => {
            // A template that cannot be brought up to date is not cloned: migrations run instead.
            ctx.log.warn({ serverId, error: describeError(error) }, 'template not current; creating an empty database and migrating it');
            return null;
          });
        }
        // Never clone a template that is behind.
        if (templateVersion !== null && templateVersion === ctx.tenantMigrations.latest) {
          try {
            await server.unsafe(
              `create database ${quoteIdent(names.database)} owner ${quoteIdent(names.role)} ` +
                `template ${quoteIdent(templateNames(ctx.config.dbPrefix).database)} strategy ${ctx.config.templateStrategy}`,
            );
            created.database = true;
            cloned = true;
            schemaVersion = templateVersion;
            return;
          } catch (error) {
            // Someone is connected to the template (a migration of it running elsewhere): fall back.
            if (pgCode(error) !== OBJECT_IN_USE) throw error;
            ctx.log.warn({ serverId }, 'template busy; creating an empty database and migrating it');
          }
        }
      }
      await server.unsafe(`create database ${quoteIdent(names.database)} owner ${quoteIdent(names.role)}`);
      created.database = true;
    });

    await step('revoke', () => server.unsafe(`revoke all on database ${quoteIdent(names.database)} from public`));

    // One connection to the new database for the rest of the saga. A clone needs the admin: its
    // objects belong to the template's owner role, and only the admin can hand them over. A
    // database built by migrations is reached as the company's own role, so that everything the
    // migrations create belongs to it.
    tenantClient = cloned
      ? await ctx.servers.open(serverId, names.database)
      : await ctx.servers.open(serverId, names.database, { user: names.role, password: rolePassword });
    const tenant = tenantClient;
    if (cloned) {
      await step('ownership', async () => {
        const owner = quoteIdent(templateNames(ctx.config.dbPrefix).owner);
        await tenant.unsafe(`reassign owned by ${owner} to ${quoteIdent(names.role)}; revoke all on schema public from ${owner}`);
      });
    } else {
      schemaVersion = await step('migrate', async () => (await applyMigrations(tenant, ctx.tenantMigrations)).version);
    }

    const firstAdmin = await step('first_admin', async () => {
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
    });
    await tenant.end({ timeout: 5 });
    tenantClient = undefined;

    current = 'activate';
    await ctx.beforeProvisionStep?.('activate');
    const activated = await ctx.db.transaction(async (tx) => {
      const [updated] = await tx
        .update(companies)
        .set({
          status: 'active',
          credentialsEncrypted: ctx.box.seal(rolePassword),
          schemaVersion,
          lastError: null,
          updatedAt: dsql`now()`,
        })
        .where(eq(companies.id, row.id))
        .returning();
      audit.push({
        companyId: row.id,
        serverId,
        action: 'created',
        status: 'ok',
        actor,
        durationMs: Math.round(performance.now() - sagaStarted),
        details: { via: cloned ? 'template' : 'migrations', schemaVersion },
      });
      await recordAudit(tx, audit);
      return updated!;
    });
    ctx.log.info({ companyId: row.id, slug, serverId, via: cloned ? 'template' : 'migrations' }, 'company provisioned');
    return {
      company: activated,
      admin: { ...firstAdmin, role: 'company_admin', ...(temporaryPassword ? { temporaryPassword } : {}) },
    };
  } catch (error) {
    const reason = `${current}: ${describeError(error)}`;
    await tenantClient?.end({ timeout: 1 }).catch(() => {});
    let cleanup = 'ok';
    try {
      if (admin) await dropTenantDatabase(admin, names, created);
    } catch (undoError) {
      // The server may be gone; `silo reconcile` finds what was left behind.
      cleanup = describeError(undoError);
    }
    const lastError = cleanup === 'ok' ? reason : `${reason}; cleanup incomplete: ${cleanup}`;
    await ctx.db.transaction(async (tx) => {
      await tx
        .update(companies)
        .set({ status: 'failed', lastError, updatedAt: dsql`now()` })
        .where(eq(companies.id, row.id));
      audit.push({
        companyId: row.id,
        serverId,
        action: 'created',
        status: 'failed',
        actor,
        durationMs: Math.round(performance.now() - sagaStarted),
        error: lastError,
        details: { step: current, undone: created, cleanup },
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
