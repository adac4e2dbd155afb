// The fleet runner: every company's database brought to the latest tenant version for a deploy.
// Templates first (so new companies are born current), then a canary batch, then the rest, with
// bounded concurrency overall and per database server; one failed company never stops the others
// unless the failure budget says so; every result lands in the management database. Interrupted,
// it stops scheduling and lets running migrations finish: each migration is its own transaction,
// so every company is on some version it reached whole, and a re-run finishes the job.
import { randomUUID } from 'node:crypto';
import { and, asc, inArray, notInArray, sql as dsql } from 'drizzle-orm';
import type { SiloContext } from '../../context.ts';
import { companies, type CompanyRow } from '../../control-plane/schema.ts';
import { describeError } from '../../base/errors.ts';
import { ensureTemplate } from '../provisioning/template.ts';
import { listServers } from '../../control-plane/server-records.ts';
import { listServersProbed } from '../servers.ts';
import { isNewerThanThisCode, migrateCompany, type CompanyMigrationResult } from './company-migrations.ts';
import { servableCompanies } from '../../control-plane/company-records.ts';

export interface FleetSelection {
  only?: string[];
  exclude?: string[];
}

export interface FleetOptions extends FleetSelection {
  concurrency: number;
  /** Migrate this many companies first; if any fails, stop there. */
  canary?: number;
  /** Stop scheduling after this many failures. */
  maxFailures?: number;
  dryRun?: boolean;
  /** Leave out companies whose server does not answer now (reported in `skipped`, not failures). */
  skipUnreachable?: boolean;
  actor: string;
  /** Stops scheduling when aborted (Ctrl-C); running migrations finish. */
  signal?: AbortSignal;
  onResult?: (result: CompanyMigrationResult, progress: { done: number; failed: number; total: number }) => void;
}

export interface FleetRun {
  runId: string;
  latest: string | null;
  total: number;
  results: CompanyMigrationResult[];
  /** Companies that were targeted but not attempted, and why. */
  notAttempted: { slug: string; reason: string }[];
  /** With skipUnreachable: companies left out because their server did not answer. */
  skipped: { slug: string; serverId: string }[];
  stoppedBecause: 'canary_failed' | 'max_failures' | 'interrupted' | null;
  templates: { serverId: string; version: string | null; error?: string }[];
}

/** The companies a run targets: active and suspended ones (they have databases), by slug. */
export async function selectFleet(ctx: SiloContext, selection: FleetSelection): Promise<CompanyRow[]> {
  return ctx.db
    .select()
    .from(companies)
    .where(
      and(
        servableCompanies(),
        selection.only?.length ? inArray(companies.slug, selection.only) : undefined,
        selection.exclude?.length ? notInArray(companies.slug, selection.exclude) : undefined,
      ),
    )
    .orderBy(asc(companies.createdAt), asc(companies.id));
}

/** What a run would apply, per company, from the versions the management database records. */
export function plannedMigrations(ctx: SiloContext, company: CompanyRow): string[] {
  const tags = ctx.tenantMigrations.migrations.map((m) => m.tag);
  // A version this code does not know is a newer deploy's: nothing to apply from here.
  if (isNewerThanThisCode(ctx, company.schemaVersion)) return [];
  return company.schemaVersion === null ? tags : tags.slice(tags.indexOf(company.schemaVersion) + 1);
}

/** How many companies are on each version, and which last failed to migrate. */
export async function fleetStatus(ctx: SiloContext) {
  const [versions, failed] = await Promise.all([
    ctx.db.execute<{ version: string | null; companies: number }>(dsql`
      select schema_version as version, count(*)::int as companies from companies
      where ${servableCompanies()} group by schema_version order by schema_version nulls first`),
    ctx.db.execute<{ id: string; slug: string; version: string | null; error: string }>(dsql`
      select id, slug, schema_version as version, migration_error as error from companies
      where ${servableCompanies()} and migration_error is not null order by slug`),
  ]);
  const latest = ctx.tenantMigrations.latest;
  const behind = versions.filter((v) => v.version !== latest && !isNewerThanThisCode(ctx, v.version)).reduce((n, v) => n + v.companies, 0);
  return {
    latest,
    versions: versions.map((v) => ({ version: v.version, companies: v.companies })),
    behind,
    failed: failed.map((f) => ({ companyId: f.id, slug: f.slug, version: f.version, error: f.error })),
  };
}

export async function migrateFleet(ctx: SiloContext, options: FleetOptions): Promise<FleetRun> {
  const runId = randomUUID();
  const run: FleetRun = {
    runId,
    latest: ctx.tenantMigrations.latest,
    total: 0,
    results: [],
    notAttempted: [],
    skipped: [],
    stoppedBecause: null,
    templates: [],
  };

  if (!options.dryRun) {
    for (const server of await listServers(ctx)) {
      // Only postgres servers have templates; neon projects and external databases are migrated.
      if (server.status === 'disabled' || server.provider !== 'postgres') continue;
      try {
        run.templates.push({ serverId: server.id, version: await ensureTemplate(ctx, server.id) });
      } catch (error) {
        run.templates.push({ serverId: server.id, version: server.templateVersion, error: describeError(error) });
      }
    }
  }

  let fleet = await selectFleet(ctx, options);
  if (options.skipUnreachable) {
    const down = new Set((await listServersProbed(ctx)).filter((s) => s.reachable === false).map((s) => s.id));
    run.skipped = fleet.filter((c) => c.serverId && down.has(c.serverId)).map((c) => ({ slug: c.slug, serverId: c.serverId! }));
    fleet = fleet.filter((c) => !(c.serverId && down.has(c.serverId)));
  }
  run.total = fleet.length;
  const canary = Math.min(options.canary ?? 0, fleet.length);
  // A migration holds one connection: a server gets at most a quarter of its pool budget of them.
  const perServer = Math.max(1, Math.min(options.concurrency, Math.floor(ctx.config.pools.serverBudget / 4)));

  let failed = 0;
  const runningPerServer = new Map<string, number>();
  const stop = (reason: NonNullable<FleetRun['stoppedBecause']>) => {
    run.stoppedBecause ??= reason;
  };

  const migrateOne = async (company: CompanyRow) => {
    let result: CompanyMigrationResult;
    try {
      result = await migrateCompany(ctx, company, { actor: options.actor, runId, dryRun: options.dryRun ?? false });
    } catch (error) {
      // Not a failing migration but an unreachable database or a company without one.
      result = {
        companyId: company.id,
        slug: company.slug,
        status: 'failed',
        applied: [],
        fromVersion: company.schemaVersion,
        version: company.schemaVersion,
        pending: plannedMigrations(ctx, company),
        drift: [],
        durationMs: 0,
        error: describeError(error),
      };
    }
    run.results.push(result);
    if (result.status === 'failed') failed++;
    options.onResult?.(result, { done: run.results.length, failed, total: fleet.length });
  };

  /** Runs a batch with bounded concurrency, overall and per server; false when it had to stop. */
  const runBatch = async (batch: CompanyRow[], stopOnFailure: boolean) => {
    const queue = [...batch];
    const running = new Set<Promise<void>>();
    while (queue.length > 0 || running.size > 0) {
      // Check before scheduling more: a failure or Ctrl-C stops what has not started yet.
      if (options.signal?.aborted) stop('interrupted');
      if (stopOnFailure && failed > 0) stop('canary_failed');
      if (options.maxFailures !== undefined && failed >= options.maxFailures) stop('max_failures');
      while (!run.stoppedBecause && running.size < options.concurrency && queue.length > 0) {
        const index = queue.findIndex((c) => (runningPerServer.get(c.serverId ?? '') ?? 0) < perServer);
        if (index === -1) break;
        const [company] = queue.splice(index, 1) as [CompanyRow];
        const server = company.serverId ?? '';
        runningPerServer.set(server, (runningPerServer.get(server) ?? 0) + 1);
        const task: Promise<void> = migrateOne(company).finally(() => {
          runningPerServer.set(server, (runningPerServer.get(server) ?? 1) - 1);
          running.delete(task);
        });
        running.add(task);
      }
      if (running.size === 0) break;
      await Promise.race(running);
    }
    return queue;
  };

  const leftAfterCanary = await runBatch(fleet.slice(0, canary), true);
  let left = [...leftAfterCanary, ...fleet.slice(canary)];
  if (!run.stoppedBecause) left = await runBatch(left, false);
  for (const company of left) run.notAttempted.push({ slug: company.slug, reason: run.stoppedBecause ?? 'not scheduled' });
  return run;
}

/** True when every targeted company ended on the latest version. */
export function fleetSucceeded(run: FleetRun): boolean {
  return run.notAttempted.length === 0 && run.results.every((r) => r.status !== 'failed' && r.version === run.latest);
}
