// Migrating one company's database: the runner on a dedicated one-connection client logged in as
// the company's role, every applied or failed migration recorded in the management database, the
// company's schema version kept current there, and every instance told (its pools hold prepared
// statements planned against the old schema).
import type { SiloContext } from '../../context.ts';
import { conflict, describeError, isConnectionError, SiloError, unavailable } from '../../base/errors.ts';
import { isServable } from '../../control-plane/company-records.ts';
import { COMPANY_CHANGED_CHANNEL } from '../../data-plane/tenants.ts';
import { hasDatabase, openAsCompany } from '../../data-plane/company-database.ts';
import type { Sql } from 'postgres';
import { applyMigrations, MigrationFailedError, readMigrationState, type Drift } from '../../base/db/migration-runner.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';

export interface CompanyMigrationResult {
  companyId: string;
  slug: string;
  status: 'migrated' | 'current' | 'failed';
  applied: string[];
  fromVersion: string | null;
  version: string | null;
  pending: string[];
  drift: Drift[];
  durationMs: number;
  error?: string;
  failedMigration?: string;
}

const knownTags = (ctx: SiloContext) => ctx.tenantMigrations.migrations.map((m) => m.tag);

/** True for a recorded version that is not in this code's migration set: a newer deploy's. */
export function isNewerThanThisCode(ctx: SiloContext, version: string | null): boolean {
  return version !== null && !ctx.tenantMigrations.migrations.some((m) => m.tag === version);
}

/** A company_migrations row as the recording statement reads it. */
interface MigrationRow {
  migration: string;
  status: 'applied' | 'failed';
  duration_ms: number | null;
  error: string | null;
}

export interface MigrateCompanyOptions {
  actor: string;
  runId?: string;
  /** Report what is pending without applying it. */
  dryRun?: boolean;
}

function openForMigration(ctx: SiloContext, company: CompanyRow) {
  if (!hasDatabase(company)) throw conflict(`the company is ${company.status} and has no database to migrate`);
  return openAsCompany(ctx, company, {
    connection: { application_name: 'silo-migrate' },
    // The runner reads and writes only text and numbers: skip postgres.js's array-type query on
    // connect, a third of the CPU of a short migration connection.
    fetch_types: false,
  });
}

/**
 * Migrates a company on request (its system admin, a move): 409 when it has no database, 503 when its
 * database cannot be reached. A failing migration is a result (status "failed"), not an error.
 */
export async function migrateCompanyOnRequest(
  ctx: SiloContext,
  company: CompanyRow,
  options: MigrateCompanyOptions,
): Promise<CompanyMigrationResult> {
  if (!isServable(company)) throw conflict(`a ${company.status} company has no database to migrate`);
  const result = await migrateCompany(ctx, company, options);
  if (result.status === 'failed' && !result.failedMigration) throw unavailable('the company database cannot be reached');
  return result;
}

/** Brings one company's database to the latest tenant version (or reports what it would do). */
export async function migrateCompany(
  ctx: SiloContext,
  company: CompanyRow,
  options: MigrateCompanyOptions,
): Promise<CompanyMigrationResult> {
  const started = performance.now();
  const recorded: MigrationRow[] = [];
  const base = { companyId: company.id, slug: company.slug, fromVersion: company.schemaVersion };
  /**
   * Anything but a failing migration (unreachable, login refused, no database): nothing was
   * applied. Recorded like any failure, so that `migrate status` knows what `apply` reported.
   */
  const notApplied = async (error: unknown): Promise<CompanyMigrationResult> => {
    const outcome: CompanyMigrationResult = {
      ...base,
      status: 'failed',
      applied: [],
      version: company.schemaVersion,
      pending: [],
      drift: [],
      durationMs: Math.round(performance.now() - started),
      error: isConnectionError(error) ? `cannot reach the database: ${describeError(error)}` : describeError(error),
    };
    await recordOutcome(ctx, company, outcome, recorded, options.actor, options.runId);
    return outcome;
  };
  let sql: Sql;
  try {
    sql = await openForMigration(ctx, company);
  } catch (error) {
    if (options.dryRun) throw error;
    return notApplied(error);
  }
  try {
    if (options.dryRun) {
      const state = await readMigrationState(sql, ctx.tenantMigrations);
      return {
        ...base,
        status: state.pending.length === 0 ? 'current' : 'migrated',
        applied: [],
        version: state.version,
        pending: state.pending.map((m) => m.tag),
        drift: state.drift,
        durationMs: Math.round(performance.now() - started),
      };
    }
    try {
      const result = await applyMigrations(sql, ctx.tenantMigrations, {
        onApplied: (tag, ms) => recorded.push({ migration: tag, status: 'applied', duration_ms: Math.round(ms), error: null }),
      });
      const outcome: CompanyMigrationResult = {
        ...base,
        status: result.appliedNow.length > 0 ? 'migrated' : 'current',
        applied: result.appliedNow,
        version: result.version,
        pending: result.pending.map((m) => m.tag),
        drift: result.drift,
        durationMs: Math.round(performance.now() - started),
      };
      await recordOutcome(ctx, company, outcome, recorded, options.actor, options.runId);
      return outcome;
    } catch (error) {
      if (!(error instanceof MigrationFailedError)) return await notApplied(error);
      const message = describeError(error.reason);
      recorded.push({ migration: error.tag, status: 'failed', duration_ms: null, error: message });
      const state = await readMigrationState(sql, ctx.tenantMigrations).catch(() => undefined);
      const outcome: CompanyMigrationResult = {
        ...base,
        status: 'failed',
        applied: error.appliedNow,
        version: state?.version ?? company.schemaVersion,
        pending: state?.pending.map((m) => m.tag) ?? [],
        drift: state?.drift ?? [],
        durationMs: Math.round(performance.now() - started),
        error: message,
        failedMigration: error.tag,
      };
      await recordOutcome(ctx, company, outcome, recorded, options.actor, options.runId);
      return outcome;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Records a company's outcome in the management database in one statement (a fleet run does this
 * for every company, so it is one round trip rather than a transaction of four): the migration
 * rows, the audit row, the company's version, and a NOTIFY (sent at commit) so every instance
 * drops its cached row and its pool, whose prepared statements were planned against the old schema.
 */
async function recordOutcome(
  ctx: SiloContext,
  company: CompanyRow,
  outcome: CompanyMigrationResult,
  recorded: MigrationRow[],
  actor: string,
  runId: string | undefined,
): Promise<void> {
  const failed = outcome.status === 'failed';
  const changed = outcome.applied.length > 0 || outcome.version !== company.schemaVersion;
  const audited = outcome.applied.length > 0 || failed;
  const details = { applied: outcome.applied, version: outcome.version, ...(failed ? { failedMigration: outcome.failedMigration } : {}) };
  const sql = ctx.sql;
  await sql`
    with recorded as (
      insert into company_migrations (company_id, migration, status, duration_ms, error, run_id)
      select ${company.id}::uuid, r.migration, r.status, r.duration_ms, r.error, ${runId ?? null}::uuid
      from jsonb_to_recordset(${JSON.stringify(recorded)}::jsonb)
        as r(migration text, status text, duration_ms int, error text)
    ), audited as (
      insert into company_database_logs (company_id, server_id, action, status, actor, duration_ms, error, details)
      select ${company.id}::uuid, ${company.serverId}::uuid, 'migrated', ${failed ? 'failed' : 'ok'}, ${actor},
             ${outcome.durationMs}, ${failed ? (outcome.error ?? null) : null}, ${JSON.stringify(details)}::jsonb
      where ${audited}
    )
    update companies set
      -- Never record an older version over one this code does not know (a newer deploy's).
      schema_version = case when schema_version is null or schema_version = any(${knownTags(ctx)}::text[])
                            then ${outcome.version} else schema_version end,
      migration_error = ${failed ? (outcome.failedMigration ? `${outcome.failedMigration}: ${outcome.error}` : (outcome.error ?? null)) : null},
      migrated_at = case when ${outcome.applied.length > 0} then now() else migrated_at end
    where id = ${company.id}::uuid
    returning case when ${changed} then pg_notify(${COMPANY_CHANGED_CHANNEL}, id::text) end`;
  if (changed) ctx.tenants.forget(company.id);
}

// A failed upgrade on a request is not retried by every following request: it waits this long.
const RETRY_FAILED_UPGRADE_MS = 30_000;
const upgrades = new WeakMap<SiloContext, Map<string, Promise<void>>>();
const failedUpgrades = new WeakMap<SiloContext, Map<string, number>>();

/**
 * Called before a request is served: a company that is behind the latest tenant version is
 * migrated first (once, however many requests arrive together), so an upgrade without a fleet
 * run still converges. A company whose migration fails answers 503 until an operator fixes it.
 */
export async function ensureCompanyCurrent(ctx: SiloContext, company: CompanyRow): Promise<void> {
  if (company.schemaVersion === ctx.tenantMigrations.latest) return;
  // A version this code does not know is a newer one (a newer instance of a rolling deploy
  // migrated it): old code serves it as it is, by the expand-then-contract rule.
  if (isNewerThanThisCode(ctx, company.schemaVersion)) return;
  let inFlight = upgrades.get(ctx);
  if (!inFlight) {
    inFlight = new Map();
    upgrades.set(ctx, inFlight);
  }
  let failures = failedUpgrades.get(ctx);
  if (!failures) {
    failures = new Map();
    failedUpgrades.set(ctx, failures);
  }

  const failedAt = failures.get(company.id);
  if (failedAt && Date.now() - failedAt < RETRY_FAILED_UPGRADE_MS) {
    throw new SiloError('unavailable', "the company's database could not be upgraded; an operator has to look at it");
  }
  let pending = inFlight.get(company.id);
  if (!pending) {
    const run = (async () => {
      const result = await migrateCompany(ctx, company, { actor: 'system:first-request' });
      if (result.status === 'failed') {
        failures.set(company.id, Date.now());
        ctx.log.error({ companyId: company.id, migration: result.failedMigration, error: result.error }, 'upgrade on first request failed');
        throw new SiloError('unavailable', "the company's database could not be upgraded; an operator has to look at it");
      }
      failures.delete(company.id);
      ctx.log.info({ companyId: company.id, applied: result.applied }, 'company upgraded on its first request');
    })()
      .catch((error: unknown) => {
        if (error instanceof SiloError) throw error;
        if (isConnectionError(error)) throw new SiloError('unavailable', 'the company database cannot be reached');
        throw error;
      })
      .finally(() => inFlight.delete(company.id));
    inFlight.set(company.id, run);
    pending = run;
  }
  await pending;
}
