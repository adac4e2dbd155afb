// Restoring a company from one of its backups, in place: a saga that either ends with the company
// served from a database holding exactly the backup's data (migrated forward to the latest schema),
// or leaves it served from its old database, untouched, with nothing left behind.
//   verify the archive -> claim the company (a move's lease: no move or second restore meanwhile)
//   -> a new database beside the old one, owned by the company's role -> load the archive
//   (load-archive.ts) -> hold writes -> swap the two databases' names -> drop the old one.
// The new database is reachable under the company's name only after the swap, so no request ever
// sees it half-restored; while the names are swapped (a fraction of a second), requests answer
// 503 with Retry-After. The steps and the measured hold: docs/backups.md.
import { and, eq, sql as dsql } from 'drizzle-orm';
import type { Sql } from 'postgres';
import type { SiloContext } from '../../context.ts';
import { companies, databaseLeftovers } from '../../control-plane/schema.ts';
import { sealedAt } from '../../base/crypto/credentials.ts';
import { inTransaction } from '../../base/db/transaction.ts';
import { conflict, describeError } from '../../base/errors.ts';
import { sweepUnreferencedFiles } from '../file-sweep.ts';
import { letAdminActAs } from '../provisioning/admin-role.ts';
import { quoteIdent } from '../../base/names.ts';
import { LEASE_SECONDS, type MoveClaim, MoveLease } from '../scale-out/move-claim.ts';
import { COPY_SESSION } from '../scale-out/table-copy.ts';
import { type AuditEntry, recordAudit } from '../../control-plane/audit.ts';
import { getCompany } from '../../control-plane/company-records.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';
import { type Manifest, verifyArchive } from './archive-format.ts';
import { type BackupRow, backupStorage, getBackup } from './backups.ts';
import { loadArchive, migrationsUpTo } from './load-archive.ts';
import type { OnProgress } from './progress.ts';
import { dropOld, type RestoreStep, swapDatabases, undoRestore } from './restore-swap.ts';

export type { RestoreStep } from './restore-swap.ts';

export interface RestoreOptions {
  /** Called before each step: the tests make a real restore fail at a chosen one. */
  beforeStep?: (step: RestoreStep) => void | Promise<void>;
  onProgress?: OnProgress;
}

/**
 * The names beside the company's database while it is restored. A double underscore after the
 * prefix: no company's name has one, and the orphan scan of `silo reconcile` leaves them alone (a
 * restore records them as leftovers instead).
 */
export function restoreNames(prefix: string, database: string) {
  const base = database.slice(prefix.length + 1);
  return { restored: `${prefix}__restore_${base}`, old: `${prefix}__old_${base}` };
}

/** Why a company cannot be restored in place, or nothing. */
function refuseRestore(company: CompanyRow): void {
  if (company.status !== 'active' && company.status !== 'suspended') {
    throw conflict(`a ${company.status} company cannot be restored in place`);
  }
  if (company.provider !== 'postgres' || !company.serverId || !company.databaseName || !company.roleName || !company.credentialsEncrypted) {
    throw conflict(
      `restoring in place needs a database on a postgres server Silo administers; this company's is ${company.provider === 'external' ? 'an external one' : `on ${company.provider}`} (restore it as a new company instead)`,
    );
  }
}

export interface PreparedRestore {
  company: CompanyRow;
  backup: BackupRow;
  manifest: Manifest;
}

/**
 * The checks a caller can act on, before anything changes: the backup is the company's and
 * completed, the company can be restored in place, the archive is intact (400 when not) and of a
 * schema version this Silo knows (409 when newer).
 */
export async function prepareRestore(ctx: SiloContext, idOrSlug: string, backupId: string): Promise<PreparedRestore> {
  const { company, backup } = await getBackup(ctx, idOrSlug, backupId);
  refuseRestore(company);
  if (backup.status !== 'completed') throw conflict(`the backup is ${backup.status}; only a completed one can be restored`);
  const manifest = await verifyArchive(await backupStorage(ctx).read(backup.storageKey));
  migrationsUpTo(ctx.tenantMigrations, manifest.schemaVersion);
  return { company, backup, manifest };
}

export async function restoreCompany(ctx: SiloContext, idOrSlug: string, backupId: string, actor: string, options: RestoreOptions = {}) {
  return runRestore(ctx, await prepareRestore(ctx, idOrSlug, backupId), actor, options);
}

export async function runRestore(ctx: SiloContext, prepared: PreparedRestore, actor: string, options: RestoreOptions = {}) {
  const { company: found, backup } = prepared;
  const storage = backupStorage(ctx);
  const started = performance.now();
  const restoreBegan = new Date();
  const audit: AuditEntry[] = [];
  let current: RestoreStep = 'verify_archive';
  let lease: MoveLease | undefined;
  const step = async <T>(name: RestoreStep, run: () => Promise<T>): Promise<T> => {
    current = name;
    lease?.check();
    await options.beforeStep?.(name);
    const stepStarted = performance.now();
    const result = await run();
    audit.push({
      companyId: found.id,
      serverId: found.serverId,
      action: `restore.${name}`,
      status: 'ok',
      actor,
      durationMs: Math.round(performance.now() - stepStarted),
    });
    return result;
  };

  // prepareRestore read the archive through; it is not read a second time here: the copy reads it
  // again, trailer included, and a file damaged meanwhile fails the copy before it commits.
  const manifest = await step('verify_archive', async () => prepared.manifest);
  const company = await getCompany(ctx, found.id);
  refuseRestore(company);
  const serverId = company.serverId!;
  const names = restoreNames(ctx.config.dbPrefix, company.databaseName!);
  const role = company.roleName!;
  const admin = await ctx.servers.admin(serverId);
  let client: Sql | undefined;
  let heldAt = 0;
  let schemaVersion: string | null = null;
  try {
    lease = await step('claim', async () => new MoveLease(ctx, await claimRestore(ctx, company, names.restored)));
    lease.start();
    await step('database', async () => {
      // What a crashed swap leaves under the old name is told apart by its being there (restore-swap.ts).
      const [old] = await admin<{ n: number }[]>`select count(*)::int as n from pg_database where datname = ${names.old}`;
      if (old!.n > 0) throw conflict(`a previous restore's old database (${names.old}) is still there; run silo reconcile --fix first`);
      await letAdminActAs(admin, role);
      await admin.unsafe(`create database ${quoteIdent(names.restored)} owner ${quoteIdent(role)}`);
      await admin.unsafe(`revoke all on database ${quoteIdent(names.restored)} from public`);
    });
    const password = ctx.box.open(company.credentialsEncrypted!, sealedAt.companyCredentials(company.id));
    client = await ctx.servers.open(
      serverId,
      names.restored,
      { user: role, password },
      { connection: { ...COPY_SESSION, application_name: 'silo-restore' }, idle_timeout: 0, max_lifetime: 0 },
    );
    schemaVersion = await loadArchive(ctx, client, manifest, () => storage.read(backup.storageKey), step, company.id, options.onProgress);
    await client.end({ timeout: 5 });
    client = undefined;

    await step('hold', async () => {
      await lease!.holdWrites();
      heldAt = performance.now();
    });
    current = 'swap';
    await options.beforeStep?.('swap');
    await lease.stop();
    await swapDatabases(ctx, company, lease.claim, names, schemaVersion, audit, actor);
  } catch (error) {
    throw await undoRestore(ctx, { company, lease, client, admin, names, audit, step: current, error, actor, started });
  }
  await ctx.tenants.companyChanged(company.id);
  const writesHeldMs = Math.round(performance.now() - heldAt);
  const oldDropped = await dropOld(ctx, company, admin, names.old, actor);
  // The files added after the backup: no row of the restored database names them (file-sweep.ts).
  // Written before the restore began, so that an upload that reaches the new database is spared.
  const filesSwept = await sweepUnreferencedFiles(ctx, company, restoreBegan).catch((error: unknown) => {
    ctx.log.warn({ companyId: company.id, error: describeError(error) }, 'files no row names could not be removed after a restore');
    return `not removed: ${describeError(error)}`;
  });
  const durationMs = Math.round(performance.now() - started);
  const tables = Object.fromEntries(manifest.tables.map((t) => [t.name, t.rows]));
  await recordAudit(ctx.db, [
    {
      companyId: company.id,
      serverId,
      action: 'restored',
      status: 'ok',
      actor,
      durationMs,
      details: {
        backupId: backup.id,
        from: manifest.schemaVersion,
        to: schemaVersion,
        tables,
        writesHeldMs,
        oldDatabaseDropped: oldDropped,
        filesSwept,
      },
    },
  ]);
  ctx.log.info({ companyId: company.id, backupId: backup.id, durationMs, writesHeldMs }, 'company restored from a backup');
  return { company: await getCompany(ctx, company.id), restore: { backupId: backup.id, tables, schemaVersion, durationMs, writesHeldMs } };
}

/** The company's lease (a move's, pointing at its own server) and the new database's leftover record. */
async function claimRestore(ctx: SiloContext, company: CompanyRow, database: string): Promise<MoveClaim> {
  return inTransaction(ctx.db, async (tx) => {
    const [claimed] = await tx
      .update(companies)
      .set({ movingTo: company.serverId, moveLeaseUntil: dsql`now() + make_interval(secs => ${LEASE_SECONDS})` })
      .where(
        and(
          eq(companies.id, company.id),
          eq(companies.serverId, company.serverId!),
          eq(companies.status, company.status),
          dsql`(${companies.movingTo} is null or ${companies.moveLeaseUntil} < now())`,
        ),
      )
      .returning({ lease: companies.moveLeaseUntil });
    if (!claimed) throw conflict('the company is being moved or restored already, or changed meanwhile; try again shortly');
    const [leftover] = await tx
      .insert(databaseLeftovers)
      // No role of its own: the company's role owns it, so role_name repeats the database's name.
      .values({ companyId: company.id, serverId: company.serverId!, databaseName: database, roleName: database, reason: 'restore_target' })
      .returning({ id: databaseLeftovers.id });
    return { companyId: company.id, from: company.serverId!, to: company.serverId!, leftoverId: leftover!.id, lease: claimed.lease! };
  });
}
