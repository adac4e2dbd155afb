// `silo reconcile` and the warm pool (src/operations/provisioning/warm-pool.ts). Warm databases are
// no company's, yet never orphans: they are named in the template's namespace, which the orphan
// scan skips. What is broken is found here, on each postgres server, holding that server's refill
// lock (so no refill is under way and a `cloning` row is one a crash left): rows left `cloning`,
// ready rows whose database or role is gone, and warm-named databases or roles with no row.
import { eq } from 'drizzle-orm';
import type { SiloContext } from '../../context.ts';
import { warmDatabases } from '../../control-plane/schema.ts';
import { describeError } from '../../base/errors.ts';
import { ifUnlocked, LOCK_CLASS } from '../../base/db/advisory-lock.ts';
import { listServers } from '../../control-plane/server-records.ts';
import { dropWarm, warmNamePrefix } from '../provisioning/warm-pool.ts';
import type { ReconcileFinding } from './finding.ts';

/** LIKE pattern for names starting with `prefix` (its underscores taken literally). */
const startsWith = (prefix: string) => `${prefix.replaceAll('_', '\\_')}%`;

export async function reconcileWarmPool(ctx: SiloContext, options: { fix: boolean }): Promise<ReconcileFinding[]> {
  const findings: ReconcileFinding[] = [];
  const like = startsWith(warmNamePrefix(ctx.config.dbPrefix));
  for (const server of await listServers(ctx)) {
    if (server.provider !== 'postgres') continue;
    try {
      // A refill running elsewhere holds the lock: its rows are not broken, and the next run looks.
      await ifUnlocked(ctx.locks, LOCK_CLASS.warmRefill, server.id, async () => {
        const admin = await ctx.servers.admin(server.id);
        const present = await admin<{ name: string; database: boolean; role: boolean }[]>`
          select name, bool_or(kind = 'database') as database, bool_or(kind = 'role') as role from (
            select datname as name, 'database' as kind from pg_database where datname like ${like}
            union all
            select rolname, 'role' from pg_roles where rolname like ${like}) found
          group by name`;
        const rows = await ctx.db.select().from(warmDatabases).where(eq(warmDatabases.serverId, server.id));
        const onServer = new Map(present.map((p) => [p.name, p]));
        const broken = new Map<string, string | undefined>();
        for (const row of rows) {
          const found = onServer.get(row.name);
          if (row.status !== 'ready' || !found?.database || !found.role) broken.set(row.name, row.id);
        }
        for (const name of onServer.keys()) if (!rows.some((r) => r.name === name)) broken.set(name, undefined);
        for (const [name, rowId] of broken) {
          const finding: ReconcileFinding = { kind: 'broken_warm_database', serverId: server.id, name, fixed: false };
          findings.push(finding);
          if (!options.fix) continue;
          try {
            await dropWarm(admin, name);
            if (rowId) await ctx.db.delete(warmDatabases).where(eq(warmDatabases.id, rowId));
            finding.fixed = true;
          } catch (error) {
            finding.error = describeError(error);
          }
        }
      });
    } catch {
      // An unreachable server is reported by the orphan scan already.
    }
  }
  return findings;
}
