// A company's backups: taking one (a row `running`, the archive written to the storage, the row
// `completed` with its size, schema version and row counts, or `failed` with the reason), listing,
// reading and removing them. Every backup is in the company's log. docs/backups.md.
import type { Readable } from 'node:stream';
import { and, eq, ne, sql as dsql } from 'drizzle-orm';
import type { SiloContext } from '../../context.ts';
import { companyBackups } from '../../control-plane/schema.ts';
import { conflict, describeError, notFound } from '../../base/errors.ts';
import { recordAudit } from '../../control-plane/audit.ts';
import { getCompany } from '../../control-plane/company-records.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';
import { keyset, type Page, type PageRequest, toPage } from '../../base/pagination.ts';
import { backupKey, type BackupStorage } from './storage.ts';
import { backupStorageOf } from './storage-of.ts';
import { refuseBackup, takeSnapshot } from './snapshot.ts';
import type { Manifest } from './archive-format.ts';
import type { OnProgress } from './progress.ts';

export type BackupRow = typeof companyBackups.$inferSelect;
export type BackupOrigin = 'manual' | 'scheduled' | 'archive' | 'import';

export interface BackupView {
  id: string;
  companyId: string;
  status: BackupRow['status'];
  origin: string;
  startedAt: string;
  completedAt?: string;
  sizeBytes?: number;
  schemaVersion: string | null;
  tables?: Record<string, number>;
  error?: string;
}

export function toBackupView(row: BackupRow): BackupView {
  return {
    id: row.id,
    companyId: row.companyId,
    status: row.status,
    origin: row.origin,
    startedAt: row.startedAt.toISOString(),
    ...(row.completedAt ? { completedAt: row.completedAt.toISOString() } : {}),
    ...(row.sizeBytes !== null ? { sizeBytes: row.sizeBytes } : {}),
    schemaVersion: row.schemaVersion,
    ...(row.tables ? { tables: row.tables } : {}),
    ...(row.error ? { error: row.error } : {}),
  };
}

/** The storage backups go to: a folder (SILO_BACKUP_DIR) or an S3 bucket (SILO_BACKUP_S3_BUCKET). */
export function backupStorage(ctx: SiloContext): BackupStorage {
  return backupStorageOf(ctx.config);
}

/** Backups running at once per database server in this instance, each waiting its turn. */
const running = new WeakMap<SiloContext, Map<string, { active: number; waiting: (() => void)[] }>>();

async function inTurn<T>(ctx: SiloContext, serverId: string, work: () => Promise<T>): Promise<T> {
  const servers = running.get(ctx) ?? new Map();
  running.set(ctx, servers);
  const slot = servers.get(serverId) ?? { active: 0, waiting: [] };
  servers.set(serverId, slot);
  if (slot.active >= ctx.config.backups.concurrencyPerServer) await new Promise<void>((resume) => slot.waiting.push(resume));
  else slot.active++;
  try {
    return await work();
  } finally {
    const next = slot.waiting.shift();
    if (next) next();
    else slot.active--;
  }
}

export interface StartedBackup {
  backup: BackupRow;
  /** Settles when the backup has completed (its row) or failed (it rejects). */
  done: Promise<BackupRow>;
}

/** Records a backup as running and takes it in the background. */
export async function startBackup(
  ctx: SiloContext,
  idOrSlug: string,
  actor: string,
  origin: BackupOrigin = 'manual',
  onProgress?: OnProgress,
): Promise<StartedBackup> {
  const company = await getCompany(ctx, idOrSlug);
  refuseBackup(company);
  const id = crypto.randomUUID();
  const [backup] = await ctx.db
    .insert(companyBackups)
    .values({ id, companyId: company.id, origin, actor, storageKey: backupKey(company.id, id) })
    .returning();
  const done = runBackup(ctx, company, backup!, onProgress);
  // The caller may not wait (HTTP answers 202); the outcome is in the row and the log either way.
  done.catch(() => {});
  return { backup: backup!, done };
}

/** Takes a backup and waits for it: the CLI, archive and the tests. */
export async function takeBackup(
  ctx: SiloContext,
  idOrSlug: string,
  actor: string,
  origin: BackupOrigin = 'manual',
  onProgress?: OnProgress,
) {
  return (await startBackup(ctx, idOrSlug, actor, origin, onProgress)).done;
}

/** How often a running backup renews its heartbeat, at most: four renewals fit in the lapse (SILO_BACKUP_STALE_AFTER_SECONDS). */
const HEARTBEAT_MS = 15_000;

/**
 * Renews the backup's heartbeat until stopped: a lapsed one tells other instances it was interrupted
 * (stale.ts). Renewed every quarter of the lapse (at most every 15 s), so that a slow renewal or two
 * does not make a running backup look interrupted.
 */
function keepAlive(ctx: SiloContext, backupId: string): () => void {
  const every = Math.min(HEARTBEAT_MS, (ctx.config.backups.staleAfterSeconds * 1000) / 4);
  const timer = setInterval(() => {
    ctx.db
      .update(companyBackups)
      .set({ heartbeatAt: dsql`now()` })
      .where(and(eq(companyBackups.id, backupId), eq(companyBackups.status, 'running')))
      .catch((error: unknown) => ctx.log.warn({ backupId, error: describeError(error) }, 'could not renew a backup heartbeat'));
  }, every);
  timer.unref();
  return () => clearInterval(timer);
}

async function runBackup(ctx: SiloContext, company: CompanyRow, backup: BackupRow, onProgress?: OnProgress): Promise<BackupRow> {
  const started = performance.now();
  const stopHeartbeat = keepAlive(ctx, backup.id);
  try {
    const { manifest, sizeBytes } = await inTurn(ctx, company.serverId ?? company.id, async () => {
      const snapshot = await takeSnapshot(ctx, company, onProgress);
      try {
        const sizeBytes = await backupStorage(ctx).write(backup.storageKey, snapshot.archive);
        return { manifest: await snapshot.manifest, sizeBytes };
      } finally {
        // A storage that failed before reading the archive (a folder it cannot make) would leave the
        // snapshot's transaction open, holding back vacuum: its connection ends with the archive.
        snapshot.archive.destroy();
      }
    });
    return await finishBackup(ctx, company, backup, manifest, sizeBytes, performance.now() - started);
  } catch (error) {
    const reason = describeError(error);
    await backupStorage(ctx)
      .remove(backup.storageKey)
      .catch(() => {});
    await ctx.db
      .update(companyBackups)
      .set({ status: 'failed', error: reason, completedAt: dsql`now()` })
      // One failed meanwhile (stale.ts) keeps the reason it was failed with.
      .where(and(eq(companyBackups.id, backup.id), eq(companyBackups.status, 'running')))
      .catch(() => {});
    await recordAudit(ctx.db, [
      {
        companyId: company.id,
        serverId: company.serverId,
        action: 'backup',
        status: 'failed',
        actor: backup.actor,
        durationMs: Math.round(performance.now() - started),
        error: reason,
        details: { backupId: backup.id, origin: backup.origin },
      },
    ]).catch(() => {});
    ctx.log.error({ companyId: company.id, backupId: backup.id, error: reason }, 'backup failed');
    throw error;
  } finally {
    stopHeartbeat();
  }
}

async function finishBackup(ctx: SiloContext, company: CompanyRow, backup: BackupRow, manifest: Manifest, sizeBytes: number, ms: number) {
  const tables = Object.fromEntries(manifest.tables.map((t) => [t.name, t.rows]));
  const [done] = await ctx.db
    .update(companyBackups)
    .set({ status: 'completed', sizeBytes, schemaVersion: manifest.schemaVersion, tables, completedAt: dsql`now()` })
    // Still running: a Silo paused past the heartbeat's lapse finds its backup marked failed (stale.ts) when it resumes.
    .where(and(eq(companyBackups.id, backup.id), eq(companyBackups.status, 'running')))
    .returning();
  // The caller removes the archive it wrote; the row keeps the reason it was failed with.
  if (!done) throw conflict('the backup was marked failed while it ran (its heartbeat had lapsed: was this Silo paused?)');
  await recordAudit(ctx.db, [
    {
      companyId: company.id,
      serverId: company.serverId,
      action: 'backup',
      status: 'ok',
      actor: backup.actor,
      durationMs: Math.round(ms),
      details: { backupId: backup.id, origin: backup.origin, sizeBytes, schemaVersion: manifest.schemaVersion, tables },
    },
  ]);
  ctx.log.info({ companyId: company.id, backupId: backup.id, sizeBytes, ms: Math.round(ms) }, 'backup completed');
  return done!;
}

/** The company's backups, newest first. */
export async function listBackups(ctx: SiloContext, idOrSlug: string, page: PageRequest): Promise<Page<BackupView>> {
  const company = await getCompany(ctx, idOrSlug);
  const order = keyset({ createdAt: companyBackups.startedAt, id: companyBackups.id }, page);
  const rows = await ctx.db
    .select()
    .from(companyBackups)
    .where(and(eq(companyBackups.companyId, company.id), order.where))
    .orderBy(...order.orderBy)
    .limit(order.limit);
  return toPage(
    rows.map((r) => ({ ...r, createdAt: r.startedAt })),
    page.limit,
    toBackupView,
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** One backup of the company; 404 when it is another company's or none. */
export async function getBackup(ctx: SiloContext, idOrSlug: string, backupId: string): Promise<{ company: CompanyRow; backup: BackupRow }> {
  const company = await getCompany(ctx, idOrSlug);
  if (!UUID.test(backupId)) throw notFound('backup');
  const [backup] = await ctx.db
    .select()
    .from(companyBackups)
    .where(and(eq(companyBackups.id, backupId.toLowerCase()), eq(companyBackups.companyId, company.id)));
  if (!backup) throw notFound('backup');
  return { company, backup };
}

/** The archive of a completed backup, as stored. */
export async function openBackupArchive(
  ctx: SiloContext,
  idOrSlug: string,
  backupId: string,
): Promise<{ backup: BackupRow; archive: Readable }> {
  const { backup } = await getBackup(ctx, idOrSlug, backupId);
  if (backup.status !== 'completed') throw conflict(`the backup is ${backup.status}; only a completed one has an archive`);
  return { backup, archive: await backupStorage(ctx).read(backup.storageKey) };
}

/** Removes a backup and its archive; a running one cannot be removed (409). */
export async function deleteBackup(ctx: SiloContext, idOrSlug: string, backupId: string, actor: string): Promise<void> {
  const { company, backup } = await getBackup(ctx, idOrSlug, backupId);
  if (backup.status === 'running') throw conflict('the backup is still running');
  await removeBackup(ctx, backup);
  await recordAudit(ctx.db, [
    { companyId: company.id, serverId: company.serverId, action: 'backup.deleted', status: 'ok', actor, details: { backupId: backup.id } },
  ]);
}

/** The row first, then the archive: a failure between leaves a file no row points at, never a row without its file. */
export async function removeBackup(ctx: SiloContext, backup: BackupRow): Promise<void> {
  await ctx.db.delete(companyBackups).where(eq(companyBackups.id, backup.id));
  await backupStorage(ctx).remove(backup.storageKey);
}

/** Every backup of a company that is not running (a deleted company's, when asked). */
export async function removeCompanyBackups(ctx: SiloContext, companyId: string): Promise<number> {
  const rows = await ctx.db
    .select()
    .from(companyBackups)
    .where(and(eq(companyBackups.companyId, companyId), ne(companyBackups.status, 'running')));
  for (const backup of rows) await removeBackup(ctx, backup);
  return rows.length;
}
