// The fleet at a glance for /api/system/status and `silo status`.
import { sql as dsql } from 'drizzle-orm';
import type { SiloContext } from '../context.ts';
import { listServers } from './servers.ts';

export async function systemStatus(ctx: SiloContext) {
  const [byStatus, versions, servers] = await Promise.all([
    ctx.db.execute<{ status: string; n: number }>(
      dsql`select status, count(*)::int as n from companies group by status order by status`,
    ),
    ctx.db.execute<{ version: string | null; n: number }>(dsql`
      select schema_version as version, count(*)::int as n from companies
      where status in ('active', 'suspended') group by schema_version order by schema_version`),
    listServers(ctx),
  ]);
  return {
    companies: Object.fromEntries(byStatus.map((r) => [r.status, r.n])) as Record<string, number>,
    servers: servers.map((s) => ({ id: s.id, name: s.name, status: s.status, capacity: s.capacity, companies: s.companies, templateVersion: s.templateVersion })),
    pools: ctx.tenants.pools.stats(),
    tenantSchema: {
      latest: ctx.tenantMigrations.latest,
      versions: versions.map((r) => ({ version: r.version, companies: r.n })),
    },
  };
}
