// `silo reconcile`, the part about names: companies whose database and role still carry their slug
// (made before names were opaque, src/base/names.ts), and renames interrupted between their two
// hops (provisioning/opaque-names.ts). With `fix`, each is renamed, or its rename finished.
import { and, eq, inArray } from 'drizzle-orm';
import { describeError } from '../../base/errors.ts';
import { tenantNames } from '../../base/names.ts';
import type { SiloContext } from '../../context.ts';
import { companies } from '../../control-plane/schema.ts';
import { hasLegacyNames, renameStopover, renameToOpaqueNames } from '../provisioning/opaque-names.ts';
import type { ReconcileFinding } from './finding.ts';

export async function reconcileNames(ctx: SiloContext, options: { fix: boolean; actor: string }): Promise<ReconcileFinding[]> {
  const rows = await ctx.db
    .select()
    .from(companies)
    .where(and(eq(companies.provider, 'postgres'), inArray(companies.status, ['active', 'suspended'])));
  const due = [];
  for (const company of rows) {
    if (!company.serverId || !company.databaseName) continue;
    if (hasLegacyNames(ctx, company)) {
      due.push(company);
      continue;
    }
    const stopover = renameStopover(ctx.config.dbPrefix, tenantNames(ctx.config.dbPrefix, company));
    const admin = await ctx.servers.admin(company.serverId).catch(() => undefined);
    const [left] = admin
      ? await admin<{ n: number }[]>`select count(*)::int as n from pg_database where datname = ${stopover.database}`
      : [];
    if (left && left.n > 0) due.push(company);
  }
  const findings: ReconcileFinding[] = [];
  for (const company of due) {
    const finding: ReconcileFinding = {
      kind: 'legacy_names',
      serverId: company.serverId,
      name: company.slug,
      companyId: company.id,
      fixed: false,
    };
    findings.push(finding);
    if (!options.fix) continue;
    try {
      finding.fixed = (await renameToOpaqueNames(ctx, company.id, options.actor)) === 'renamed';
      if (!finding.fixed) finding.error = 'not renamed now (being moved or restored, or its status changed); run again later';
    } catch (error) {
      finding.error = describeError(error);
    }
  }
  return findings;
}
