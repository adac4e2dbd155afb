// The fleet at a glance for /api/system/status and `silo status`.
import { sql as dsql } from 'drizzle-orm';
import type { SiloContext } from '../context.ts';
import { fleetStatus } from './migrations/fleet.ts';
import { listServers } from '../control-plane/server-records.ts';
import { warmPoolFigures } from './provisioning/warm-pool.ts';
import { fileStorage } from '../data-plane/files/index.ts';
import { fleetStorage } from './fleet-storage.ts';

export async function systemStatus(ctx: SiloContext) {
  const [byStatus, fleet, servers, warm, used] = await Promise.all([
    ctx.db.execute<{ status: string; n: number }>(dsql`select status, count(*)::int as n from companies group by status order by status`),
    fleetStatus(ctx),
    listServers(ctx),
    warmPoolFigures(ctx),
    fleetStorage(ctx),
  ]);
  const warmOf = new Map(warm.map(({ serverId, ...figures }) => [serverId, figures]));
  return {
    companies: Object.fromEntries(byStatus.map((r) => [r.status, r.n])) as Record<string, number>,
    servers: servers.map((s) => ({
      id: s.id,
      name: s.name,
      status: s.status,
      capacity: s.capacity,
      companies: s.companies,
      templateVersion: s.templateVersion,
      // Postgres servers only: the databases cloned ahead of time for sign-ups.
      warmPool: warmOf.get(s.id) ?? null,
    })),
    pools: ctx.tenants.pools.stats(),
    // Each company's use of it is in its /stats; the fleet's is summed here (fleet-storage.ts).
    files: { storage: fileStorage(ctx.config).kind, maxFileBytes: ctx.config.files.maxBytes, used },
    tenantSchema: fleet,
  };
}
