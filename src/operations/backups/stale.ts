// Backups whose Silo stopped while taking them (a crash, a kill, a pause): their row says `running`
// and its heartbeat, renewed while the backup runs (backups.ts), is older than the lapse
// (SILO_BACKUP_STALE_AFTER_SECONDS). They are marked failed and their archive, whole or partial (the
// temporary file), removed: by every running Silo's scheduler each minute, and by `silo reconcile --fix`.
import { and, eq, lt, sql as dsql } from 'drizzle-orm';
import type { SiloContext } from '../../context.ts';
import { recordAudit } from '../../control-plane/audit.ts';
import { companyBackups } from '../../control-plane/schema.ts';
import { describeError } from '../../base/errors.ts';
import { backupStorage } from './backups.ts';

export interface InterruptedBackup {
  backupId: string;
  companyId: string;
  fixed: boolean;
  error?: string;
}

/** Finds running backups with a lapsed heartbeat; with `fix`, marks them failed and removes their files. */
export async function failStaleBackups(ctx: SiloContext, options: { fix: boolean; actor: string }): Promise<InterruptedBackup[]> {
  const stale = await ctx.db
    .select()
    .from(companyBackups)
    .where(
      and(
        eq(companyBackups.status, 'running'),
        lt(companyBackups.heartbeatAt, dsql`now() - make_interval(secs => ${ctx.config.backups.staleAfterSeconds})`),
      ),
    );
  const findings: InterruptedBackup[] = [];
  for (const backup of stale) {
    const finding: InterruptedBackup = { backupId: backup.id, companyId: backup.companyId, fixed: false };
    findings.push(finding);
    if (!options.fix) continue;
    try {
      const reason = 'interrupted: the Silo taking it stopped before it completed';
      const [failed] = await ctx.db
        .update(companyBackups)
        .set({ status: 'failed', error: reason, completedAt: dsql`now()` })
        // The heartbeat again: a backup that renewed it meanwhile is alive after all.
        .where(
          and(eq(companyBackups.id, backup.id), eq(companyBackups.status, 'running'), eq(companyBackups.heartbeatAt, backup.heartbeatAt)),
        )
        .returning();
      if (failed) {
        await backupStorage(ctx).remove(backup.storageKey);
        await recordAudit(ctx.db, [
          {
            companyId: backup.companyId,
            action: 'backup',
            status: 'failed',
            actor: options.actor,
            error: reason,
            details: { backupId: backup.id, origin: backup.origin, finding: 'interrupted_backup' },
          },
        ]);
      }
      finding.fixed = true;
    } catch (error) {
      finding.error = describeError(error);
    }
  }
  return findings;
}
