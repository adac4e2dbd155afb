// Archiving a company: a backup taken and read back through (verified), then its database and role
// dropped; the row stays, `archived`, with its slug, and takes no pool, connection or disk on any
// server. Its users' requests answer 403 company_suspended (details.status "archived").
// Unarchiving restores the archive's backup onto a server chosen by placement. docs/backups.md.
import { and, desc, eq, inArray, sql as dsql } from 'drizzle-orm';
import type { SiloContext } from '../../context.ts';
import { companies, companyBackups, databaseLeftovers } from '../../control-plane/schema.ts';
import { inTransaction } from '../../base/db/transaction.ts';
import { conflict, describeError } from '../../base/errors.ts';
import { tenantNames } from '../../base/names.ts';
import { chooseServer } from '../provisioning/placement.ts';
import { removeLeftover } from '../scale-out/leftovers.ts';
import { recordAudit } from '../../control-plane/audit.ts';
import { getCompany } from '../../control-plane/company-records.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';
import { verifyArchive } from './archive-format.ts';
import { backupStorage, takeBackup } from './backups.ts';
import { fillCompanyDatabase } from './new-company.ts';

/** Where the database was: nothing once archived. */
const NO_DATABASE = { serverId: null, databaseName: null, roleName: null, credentialsEncrypted: null } as const;

export async function archiveCompany(ctx: SiloContext, idOrSlug: string, actor: string): Promise<CompanyRow> {
  const company = await getCompany(ctx, idOrSlug);
  if (company.status !== 'active' && company.status !== 'suspended') throw conflict(`a ${company.status} company cannot be archived`);
  if (company.provider !== 'postgres' || !company.serverId || !company.databaseName || !company.roleName) {
    throw conflict(
      `archiving drops the company's database, which Silo does only on postgres servers it administers; this one's is ${company.provider}`,
    );
  }
  const started = performance.now();
  const backup = await takeBackup(ctx, company.id, actor, 'archive');
  // Verified: the archive reads back whole, with its checksum, before anything is dropped.
  const manifest = await verifyArchive(await backupStorage(ctx).read(backup.storageKey));
  const [archived, leftover] = await inTransaction(ctx.db, async (tx) => {
    const [row] = await tx
      .update(companies)
      .set({ status: 'archived', ...NO_DATABASE, schemaVersion: manifest.schemaVersion, updatedAt: dsql`now()` })
      .where(
        and(
          eq(companies.id, company.id),
          eq(companies.status, company.status),
          eq(companies.serverId, company.serverId!),
          dsql`(${companies.movingTo} is null or ${companies.moveLeaseUntil} < now())`,
        ),
      )
      .returning();
    if (!row) throw conflict('the company changed while it was backed up (moved, restored or deleted); try again');
    // Dropped below; recorded first so that `silo reconcile` drops it should that fail.
    const [left] = await tx
      .insert(databaseLeftovers)
      .values({
        companyId: company.id,
        serverId: company.serverId!,
        databaseName: company.databaseName!,
        roleName: company.roleName!,
        reason: 'archived',
      })
      .returning();
    await recordAudit(tx, [
      {
        companyId: company.id,
        serverId: company.serverId,
        action: 'archived',
        status: 'ok',
        actor,
        durationMs: Math.round(performance.now() - started),
        details: { backupId: backup.id, sizeBytes: backup.sizeBytes },
      },
    ]);
    return [row, left!] as const;
  });
  // Every instance stops serving it (and closes its pool) before the database goes.
  await ctx.tenants.companyChanged(company.id);
  await removeLeftover(ctx, leftover).catch((error: unknown) =>
    ctx.log.warn(
      { companyId: company.id, error: describeError(error) },
      'archived, but the database could not be dropped; silo reconcile drops it',
    ),
  );
  return archived!;
}

export async function unarchiveCompany(
  ctx: SiloContext,
  idOrSlug: string,
  actor: string,
  options: { beforeStep?: (step: string) => Promise<void> } = {},
): Promise<CompanyRow> {
  const company = await getCompany(ctx, idOrSlug);
  if (company.status !== 'archived') throw conflict(`the company is ${company.status}, not archived`);
  const [backup] = await ctx.db
    .select()
    .from(companyBackups)
    .where(
      and(eq(companyBackups.companyId, company.id), eq(companyBackups.status, 'completed'), inArray(companyBackups.origin, ['archive'])),
    )
    .orderBy(desc(companyBackups.startedAt))
    .limit(1);
  if (!backup) throw conflict('the company has no archive backup to restore (it was removed)');
  const storage = backupStorage(ctx);
  const manifest = await verifyArchive(await storage.read(backup.storageKey));
  const placement = await chooseServer(ctx, { external: false, provider: 'postgres' });
  // Placed (it takes the server's room from now), still archived until its database is whole. The
  // names it is building are the row's from now: `silo reconcile` takes nothing a row names for an
  // orphan, so it cannot drop the database while it is being restored.
  const names = tenantNames(ctx.config.dbPrefix, company);
  const [placed] = await ctx.db
    .update(companies)
    .set({
      serverId: placement.serverId,
      provider: 'postgres',
      databaseName: names.database,
      roleName: names.role,
      updatedAt: dsql`now()`,
    })
    .where(and(eq(companies.id, company.id), eq(companies.status, 'archived'), dsql`${companies.serverId} is null`))
    .returning();
  if (!placed) throw conflict('the company is being unarchived already');
  const restored = await fillCompanyDatabase(
    ctx,
    placed,
    placement.serverId,
    { manifest, open: () => storage.read(backup.storageKey), details: { backupId: backup.id } },
    actor,
    { action: 'unarchived', whenFailed: { status: 'archived', ...NO_DATABASE } },
    options,
  );
  await ctx.tenants.companyChanged(company.id);
  return restored;
}
