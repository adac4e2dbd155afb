// Scheduled backups: a company's `backup_schedule` ({ everyHours, keep }) asks for a backup every
// `everyHours` hours, of which the newest `keep` scheduled ones are kept (backups taken by hand,
// for an archive or an import are never removed by it). Every running Silo looks for due backups
// each minute; an advisory lock makes one instance at a time start them, and a started backup's
// row (running) makes it not due for the next instance, so each is taken once. How many run at
// once per server is bounded in backups.ts. The same loop marks interrupted backups failed
// (stale.ts). docs/backups.md.
import { and, desc, eq, isNotNull, sql as dsql } from 'drizzle-orm';
import type { SiloContext } from '../../context.ts';
import { companies, companyBackups } from '../../control-plane/schema.ts';
import { ifUnlocked, LOCK_CLASS } from '../../base/db/advisory-lock.ts';
import { describeError } from '../../base/errors.ts';
import { recordAudit } from '../../control-plane/audit.ts';
import { type BackupRow, removeBackup, startBackup } from './backups.ts';
import { failStaleBackups } from './stale.ts';

export interface BackupSchedule {
  everyHours: number;
  keep: number;
}

/** Starts the backups that are due; answers the started ones (their `done` settles when each ends). */
export async function startDueBackups(ctx: SiloContext): Promise<{ companyId: string; done: Promise<BackupRow> }[]> {
  const attempt = await ifUnlocked(ctx.locks, LOCK_CLASS.backupSchedule, 'fleet', async () => {
    const due = await ctx.db
      .select({ id: companies.id, schedule: companies.backupSchedule })
      .from(companies)
      .where(
        and(
          isNotNull(companies.backupSchedule),
          dsql`${companies.status} in ('active', 'suspended')`,
          dsql`not exists (
            select 1 from ${companyBackups} b
            where b.company_id = ${companies.id} and b.origin = 'scheduled' and b.status <> 'failed'
              and b.started_at > now() - make_interval(hours => (${companies.backupSchedule} ->> 'everyHours')::int))`,
        ),
      );
    const started: { companyId: string; done: Promise<BackupRow> }[] = [];
    for (const company of due) {
      try {
        const { done } = await startBackup(ctx, company.id, 'system:schedule', 'scheduled');
        const kept = done.then(async (backup) => {
          await applyRetention(ctx, company.id, company.schedule!.keep);
          return backup;
        });
        kept.catch(() => {});
        started.push({ companyId: company.id, done: kept });
      } catch (error) {
        ctx.log.warn({ companyId: company.id, error: describeError(error) }, 'could not start a scheduled backup');
      }
    }
    return started;
  });
  return attempt.locked ? attempt.value : [];
}

/** Removes the company's scheduled backups beyond the newest `keep` completed ones. */
export async function applyRetention(ctx: SiloContext, companyId: string, keep: number): Promise<number> {
  const scheduled = await ctx.db
    .select()
    .from(companyBackups)
    .where(and(eq(companyBackups.companyId, companyId), eq(companyBackups.origin, 'scheduled'), eq(companyBackups.status, 'completed')))
    .orderBy(desc(companyBackups.startedAt));
  const old = scheduled.slice(keep);
  for (const backup of old) await removeBackup(ctx, backup);
  if (old.length > 0) {
    await recordAudit(ctx.db, [
      {
        companyId,
        action: 'backup.retention',
        status: 'ok',
        actor: 'system:schedule',
        details: { removed: old.map((b) => b.id), keep },
      },
    ]);
  }
  return old.length;
}

/** Looks for due backups every `everyMs` until stopped (a running server). */
export function startBackupScheduler(ctx: SiloContext, everyMs = 60_000): { stop(): void } {
  const timer = setInterval(() => {
    startDueBackups(ctx).catch((error: unknown) => ctx.log.warn({ error: describeError(error) }, 'could not look for due backups'));
    failStaleBackups(ctx, { fix: true, actor: 'system:schedule' }).catch((error: unknown) =>
      ctx.log.warn({ error: describeError(error) }, 'could not look for interrupted backups'),
    );
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
