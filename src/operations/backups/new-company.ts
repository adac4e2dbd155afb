// A new company holding a backup's data: from another company's backup (`fromBackup`) or from an
// archive file (import, perhaps from another Silo). A saga like provisioning's: the row as
// `provisioning`, a role with a new password and an empty database on a postgres server chosen by
// placement, the archive loaded (load-archive.ts), the row `active`; any failure drops what was
// made and leaves the row `failed`. Users keep their passwords: their hashes are data.
import type { Readable } from 'node:stream';
import { eq, sql as dsql } from 'drizzle-orm';
import type { Sql } from 'postgres';
import { generatePassword } from '../../base/auth/passwords.ts';
import type { SiloContext } from '../../context.ts';
import { companies, companyBackups } from '../../control-plane/schema.ts';
import { sealedAt } from '../../base/crypto/credentials.ts';
import { inTransaction } from '../../base/db/transaction.ts';
import { conflict, describeError, invalid, isConnectionError, SiloError } from '../../base/errors.ts';
import { slugSchema, tenantNames } from '../../base/names.ts';
import { chooseServer } from '../provisioning/placement.ts';
import { createTenantDatabase } from '../provisioning/postgres-database.ts';
import { claimCompanyRow, type CreateCompanyInput } from '../provisioning/provision-company.ts';
import { dropTenantDatabase } from '../provisioning/tenant-database.ts';
import { COPY_SESSION } from '../scale-out/table-copy.ts';
import { fileStorage } from '../../data-plane/files/index.ts';
import { type AuditEntry, recordAudit } from '../../control-plane/audit.ts';
import { findLiveCompanyBySlug } from '../../control-plane/company-records.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';
import type { Manifest } from './archive-format.ts';
import { loadArchive, migrationsUpTo } from './load-archive.ts';
import type { OnProgress } from './progress.ts';

/** A new company's own settings: an archive carries data, not these (the create body gives them). */
export type NewCompanySettings = Pick<CreateCompanyInput, 'maxUsers' | 'features' | 'backupSchedule'>;

export interface NewCompanyInput extends NewCompanySettings {
  /** Chosen ahead when the archive is stored under the new company's id first (import). */
  id?: string;
  slug: string;
  name: string;
  serverId?: string;
}

export interface ArchiveSource {
  manifest: Manifest;
  open: () => Promise<Readable>;
  /** Where it came from, for the company's log: { backupId, company } or { import: true }. */
  details: Record<string, unknown>;
}

/** The checks that need nothing created: a free, valid slug and a schema version this Silo knows. */
export async function checkNewCompany(ctx: SiloContext, input: NewCompanyInput, manifest: Manifest): Promise<string> {
  const parsed = slugSchema.safeParse(input.slug);
  if (!parsed.success) throw invalid('invalid slug', [{ path: 'slug', message: parsed.error.issues[0]?.message }]);
  const live = await findLiveCompanyBySlug(ctx, parsed.data);
  if (live && live.status !== 'failed') throw conflict(`the slug "${parsed.data}" is already taken`);
  migrationsUpTo(ctx.tenantMigrations, manifest.schemaVersion);
  return parsed.data;
}

export async function createCompanyFromArchive(
  ctx: SiloContext,
  input: NewCompanyInput,
  source: ArchiveSource,
  actor: string,
  options: FillOptions = {},
): Promise<CompanyRow> {
  const slug = await checkNewCompany(ctx, input, source.manifest);
  const placement = await chooseServer(ctx, { serverId: input.serverId, external: false, provider: 'postgres' });
  const { name, maxUsers, features, backupSchedule } = input;
  const row = await claimCompanyRow(ctx, slug, { name, maxUsers, features, backupSchedule }, placement, input.id);
  return fillCompanyDatabase(ctx, row, placement.serverId, source, actor, { action: 'created', whenFailed: { status: 'failed' } }, options);
}

export interface FillOptions {
  /** Called before each step: the tests act at a chosen one. */
  beforeStep?: (step: string) => Promise<void>;
  onProgress?: OnProgress;
}

/**
 * Builds the database of a company row placed on `serverId` (named from its slug) from an archive
 * and makes the row `active`. On failure, what was made is dropped and the row gets `whenFailed`
 * (`failed` for a new company; `archived`, with no database, for an unarchive) and the reason.
 */
export async function fillCompanyDatabase(
  ctx: SiloContext,
  row: CompanyRow,
  serverId: string,
  source: ArchiveSource,
  actor: string,
  outcome: { action: string; whenFailed: Partial<CompanyRow> },
  options: FillOptions = {},
): Promise<CompanyRow> {
  const { beforeStep, onProgress } = options;
  const placement = { serverId };
  const names = tenantNames(ctx.config.dbPrefix, row);
  const audit: AuditEntry[] = [];
  const started = performance.now();
  let current = 'role';
  const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    current = name;
    await beforeStep?.(name);
    const stepStarted = performance.now();
    const result = await run();
    audit.push({
      companyId: row.id,
      serverId: placement.serverId,
      action: `provision.${name}`,
      status: 'ok',
      actor,
      durationMs: Math.round(performance.now() - stepStarted),
    });
    return result;
  };
  const created = { role: false, database: false };
  const password = generatePassword(24);
  let client: Sql | undefined;
  try {
    const built = await createTenantDatabase(ctx, placement.serverId, names, password, step, { useTemplate: false, created });
    await built.client.end({ timeout: 5 });
    client = await ctx.servers.open(
      placement.serverId,
      names.database,
      { user: names.role, password },
      { connection: { ...COPY_SESSION, application_name: 'silo-restore' }, idle_timeout: 0, max_lifetime: 0 },
    );
    const schemaVersion = await loadArchive(ctx, client, source.manifest, source.open, step, row.id, onProgress);
    await client.end({ timeout: 5 });
    client = undefined;
    return await inTransaction(ctx.db, async (tx) => {
      const [activated] = await tx
        .update(companies)
        .set({
          status: 'active',
          serverId,
          provider: 'postgres',
          databaseName: names.database,
          roleName: names.role,
          credentialsEncrypted: ctx.box.seal(password, sealedAt.companyCredentials(row.id)),
          schemaVersion,
          lastError: null,
          updatedAt: dsql`now()`,
        })
        .where(eq(companies.id, row.id))
        .returning();
      audit.push({
        companyId: row.id,
        serverId: placement.serverId,
        action: outcome.action,
        status: 'ok',
        actor,
        durationMs: Math.round(performance.now() - started),
        details: { via: 'backup', ...source.details, fromSchemaVersion: source.manifest.schemaVersion, schemaVersion },
      });
      await recordAudit(tx, audit);
      return activated!;
    });
  } catch (error) {
    await client?.end({ timeout: 1 }).catch(() => {});
    let cleanup = 'ok';
    try {
      await dropTenantDatabase(await ctx.servers.admin(placement.serverId), names, created);
      // A new company's files came from the archive; an archived one keeps those it had.
      if (outcome.whenFailed.status === 'failed') await fileStorage(ctx.config).removeCompany(row.id);
    } catch (undoError) {
      cleanup = `${describeError(undoError)}; silo reconcile drops it`;
    }
    const reason = `${current}: ${describeError(error)}`;
    await ctx.db
      .update(companies)
      .set({ ...outcome.whenFailed, lastError: reason, updatedAt: dsql`now()` })
      .where(eq(companies.id, row.id));
    audit.push({
      companyId: row.id,
      serverId: placement.serverId,
      action: outcome.action,
      status: 'failed',
      actor,
      durationMs: Math.round(performance.now() - started),
      error: reason,
      details: { via: 'backup', ...source.details, step: current, cleanup },
    });
    await recordAudit(ctx.db, audit).catch(() => {});
    if (error instanceof SiloError && error.code !== 'internal') throw error;
    throw new SiloError(
      isConnectionError(error) ? 'unavailable' : 'internal',
      `making the company's database from the backup failed at step "${current}"; it is ${outcome.whenFailed.status} (its log has the reason)`,
      { companyId: row.id, step: current },
    );
  }
}

/** Records an imported archive, stored already, as the new company's first backup. */
export async function recordImportedBackup(
  ctx: SiloContext,
  company: CompanyRow,
  backupId: string,
  storageKey: string,
  manifest: Manifest,
  sizeBytes: number,
  actor: string,
) {
  await ctx.db.insert(companyBackups).values({
    id: backupId,
    companyId: company.id,
    status: 'completed',
    origin: 'import',
    actor,
    storageKey,
    sizeBytes,
    schemaVersion: manifest.schemaVersion,
    tables: Object.fromEntries(manifest.tables.map((t) => [t.name, t.rows])),
    completedAt: new Date(),
  });
}
