// `silo reconcile`: what a crash or a lost server can leave behind. Companies stuck in
// `provisioning` past a grace period, failed Neon creates that could not delete their project,
// databases or roles on a server, named with this installation's prefix, that no live company
// owns, broken warm pool databases (warm.ts), stored files no row names (file-sweep.ts), and servers (postgres or neon) that cannot be
// reached. Reports them; with `fix`, repairs what it can: stuck companies are undone and marked
// failed (a create with the same slug retries), orphans are dropped; an unreachable server stays a
// finding.
import { and, eq, inArray, isNotNull, lt, ne, sql as dsql } from 'drizzle-orm';
import type { Sql } from 'postgres';
import type { SiloContext } from '../../context.ts';
import { companies, type CompanyRow } from '../../control-plane/schema.ts';
import { describeError } from '../../base/errors.ts';
import { neonError } from '../../providers/neon/api.ts';
import type { ReconcileFinding } from './finding.ts';
import { reconcileMoves } from './moves.ts';
import { reconcileWarmPool } from './warm.ts';
import { reconcileNames } from './names.ts';
import { failStaleBackups } from '../backups/stale.ts';
import { recordAudit } from '../../control-plane/audit.ts';
import { listServers } from '../../control-plane/server-records.ts';
import { tenantNamePattern } from '../../base/names.ts';
import { dropTenantDatabase, removeCompanyDatabase } from '../provisioning/tenant-database.ts';
import { inTransaction } from '../../base/db/transaction.ts';
import { whyUnreachable } from '../servers.ts';
import { removeStoredFiles, UNREFERENCED_GRACE_MS, unreferencedFiles } from '../file-sweep.ts';

export interface ReconcileOptions {
  fix: boolean;
  /** A company provisioning for longer than this is stuck. */
  stuckAfterMs?: number;
  actor: string;
}

/** One finding per company; with `fix`, `repair` runs for each, and what it throws is the finding's error. */
async function companyFindings(
  rows: CompanyRow[],
  kind: ReconcileFinding['kind'],
  fix: boolean,
  repair: (company: CompanyRow) => Promise<void>,
): Promise<ReconcileFinding[]> {
  const findings: ReconcileFinding[] = [];
  for (const company of rows) {
    const finding: ReconcileFinding = { kind, serverId: company.serverId, name: company.slug, companyId: company.id, fixed: false };
    findings.push(finding);
    if (!fix) continue;
    try {
      await repair(company);
      finding.fixed = true;
    } catch (error) {
      finding.error = describeError(neonError(error));
    }
  }
  return findings;
}

export async function reconcile(ctx: SiloContext, options: ReconcileOptions): Promise<ReconcileFinding[]> {
  const findings: ReconcileFinding[] = [];
  const stuckBefore = new Date(Date.now() - (options.stuckAfterMs ?? 10 * 60_000));

  const stuck = await ctx.db
    .select()
    .from(companies)
    .where(and(eq(companies.status, 'provisioning'), lt(companies.updatedAt, stuckBefore)));
  findings.push(
    ...(await companyFindings(stuck, 'stuck_provisioning', options.fix, async (company) => {
      // Whatever the saga made: a postgres database and role, a Neon project (never an external database).
      await removeCompanyDatabase(ctx, company);
      await inTransaction(ctx.db, async (tx) => {
        await tx
          .update(companies)
          .set({ status: 'failed', lastError: 'provisioning was interrupted; undone by reconcile', updatedAt: dsql`now()` })
          .where(and(eq(companies.id, company.id), eq(companies.status, 'provisioning')));
        await recordAudit(tx, [
          {
            companyId: company.id,
            serverId: company.serverId,
            action: 'reconciled',
            status: 'ok',
            actor: options.actor,
            details: { finding: 'stuck_provisioning' },
          },
        ]);
      });
    })),
  );

  // A failed Neon create whose undo could not delete its project keeps the project's id.
  const failedNeon = await ctx.db
    .select()
    .from(companies)
    .where(and(eq(companies.status, 'failed'), eq(companies.provider, 'neon'), isNotNull(companies.providerRef)));
  findings.push(
    ...(await companyFindings(failedNeon, 'failed_neon_project', options.fix, async (company) => {
      await removeCompanyDatabase(ctx, company);
      await ctx.db
        .update(companies)
        .set({ providerRef: null })
        .where(and(eq(companies.id, company.id), eq(companies.status, 'failed')));
    })),
  );

  const pattern = tenantNamePattern(ctx.config.dbPrefix);

  // Only postgres servers are Silo's to list; a neon project or an external database is one
  // company's. A neon server is still probed: its companies can neither be served nor deleted
  // while its API cannot be reached.
  for (const server of await listServers(ctx)) {
    if (server.provider === 'neon') {
      const why = await whyUnreachable(ctx, server);
      if (why) findings.push({ kind: 'unreachable_server', serverId: server.id, name: server.name, fixed: false, error: why });
    }
    if (server.provider !== 'postgres') continue;
    let admin: Sql;
    try {
      admin = await ctx.servers.admin(server.id);
      const present = await admin<{ name: string; kind: 'database' | 'role' }[]>`
        select datname as name, 'database' as kind from pg_database
          where datname like ${pattern.like} and datname not like ${pattern.notLike}
        union all
        select rolname, 'role' from pg_roles
          where rolname like ${pattern.like} and rolname not like ${pattern.notLike}`;
      // Read owners after the server: a saga inserts its row before it creates anything, so
      // whatever was listed above and belongs to a company has its row visible now. Rows still
      // provisioning count as owners; failed and deleted ones do not. A name any live company
      // holds is never an orphan, on whichever server entry it is found: one cluster registered
      // twice must not look like a server full of orphans.
      const owned = await ctx.db
        .select({ database: companies.databaseName, role: companies.roleName })
        .from(companies)
        .where(and(ne(companies.status, 'deleted'), ne(companies.status, 'failed')));
      const databases = new Set(owned.map((o) => o.database));
      const roles = new Set(owned.map((o) => o.role));
      for (const item of present) {
        if ((item.kind === 'database' ? databases : roles).has(item.name)) continue;
        const finding: ReconcileFinding = {
          kind: item.kind === 'database' ? 'orphan_database' : 'orphan_role',
          serverId: server.id,
          name: item.name,
          fixed: false,
        };
        findings.push(finding);
      }
    } catch (error) {
      findings.push({ kind: 'unreachable_server', serverId: server.id, name: server.name, fixed: false, error: describeError(error) });
      continue;
    }
    if (!options.fix) continue;
    // Databases first: a role that still owns a database cannot be dropped.
    const orphans = findings.filter((f) => f.serverId === server.id && (f.kind === 'orphan_database' || f.kind === 'orphan_role'));
    orphans.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'orphan_database' ? -1 : 1));
    for (const finding of orphans) {
      try {
        await dropTenantDatabase(
          admin,
          { database: finding.name, role: finding.name },
          { database: finding.kind === 'orphan_database', role: finding.kind === 'orphan_role' },
        );
        finding.fixed = true;
      } catch (error) {
        finding.error = describeError(error);
      }
    }
  }
  // Moves: a lapsed claim, and databases a move left behind (moves.ts).
  findings.push(...(await reconcileMoves(ctx, options)));
  // The warm pool's databases: never orphans, but a crashed refill's are broken (warm.ts).
  findings.push(...(await reconcileWarmPool(ctx, options)));
  // Names that still carry a company's slug (names.ts).
  findings.push(...(await reconcileNames(ctx, options)));
  findings.push(...(await reconcileFiles(ctx, options)));
  // Backups whose Silo stopped while taking them.
  for (const backup of await failStaleBackups(ctx, options)) {
    const { backupId, ...rest } = backup;
    findings.push({ kind: 'interrupted_backup', serverId: null, name: backupId, ...rest });
  }
  return findings;
}

/**
 * Per company with a database: stored files no row names, written long enough ago that no upload
 * is about to name them (file-sweep.ts). One finding per company, its name saying how many; with
 * `fix`, they are removed. A company whose database or storage cannot be read is left for the next run.
 */
async function reconcileFiles(ctx: SiloContext, options: ReconcileOptions): Promise<ReconcileFinding[]> {
  const findings: ReconcileFinding[] = [];
  const writtenBefore = new Date(Date.now() - UNREFERENCED_GRACE_MS);
  const live = await ctx.db
    .select()
    .from(companies)
    .where(inArray(companies.status, ['active', 'suspended']));
  for (const company of live) {
    const ids = await unreferencedFiles(ctx, company, writtenBefore).catch((error: unknown) => {
      ctx.log.warn({ companyId: company.id, error: describeError(error) }, 'reconcile could not compare the files of a company');
      return [];
    });
    if (ids.length === 0) continue;
    const finding: ReconcileFinding = {
      kind: 'unreferenced_files',
      serverId: company.serverId,
      name: `${company.slug}: ${ids.length} file${ids.length === 1 ? '' : 's'}`,
      companyId: company.id,
      fixed: false,
    };
    findings.push(finding);
    if (!options.fix) continue;
    try {
      await removeStoredFiles(ctx, company.id, ids);
      finding.fixed = true;
    } catch (error) {
      finding.error = describeError(error);
    }
  }
  return findings;
}
