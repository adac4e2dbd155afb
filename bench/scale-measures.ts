// The bench:scale figures that do work on the fleet rather than read the management database:
// sign-ups (by cloning and from the warm pool), tenant reads at random over every company through
// the pool map's default bounds, and one new migration over the whole fleet. Each adds to the
// fleet it measures (sign-ups add companies, the migration moves every company and the template
// one version on), so bench/scale.ts calls them once per size, in this order.
import { and, eq, sql } from 'drizzle-orm';
import type { SiloContext } from '../src/context.ts';
import { companies, companyDatabaseLogs, type CompanyRow } from '../src/control-plane/schema.ts';
import { loadMigrationSet } from '../src/base/db/migration-set.ts';
import { fleetSucceeded, migrateFleet } from '../src/operations/migrations/fleet.ts';
import { provisionCompany } from '../src/operations/provisioning/provision-company.ts';
import { refillServer } from '../src/operations/provisioning/warm-pool.ts';
import { appendMigration } from './migration-support.ts';

/** Sign-ups timed per size and path, one after another. */
export const SIGNUPS = 10;
/** Random tenant reads per size, and how many run at once. */
export const READS = 600;
const READ_CONCURRENCY = 8;

/** One sign-up timed, and how its database was made, as the company's `created` log entry says. */
async function createTimed(ctx: SiloContext, slug: string): Promise<{ ms: number; via: unknown }> {
  const started = performance.now();
  const { company } = await provisionCompany(
    ctx,
    { name: `Scale ${slug}`, slug, admin: { email: `a@${slug}.example`, password: 'scale-password-1' } },
    'bench',
  );
  const ms = performance.now() - started;
  const [created] = await ctx.db
    .select({ details: companyDatabaseLogs.details })
    .from(companyDatabaseLogs)
    .where(and(eq(companyDatabaseLogs.companyId, company.id), eq(companyDatabaseLogs.action, 'created')));
  return { ms, via: (created?.details as { via?: unknown } | null)?.via };
}

export interface SignUps {
  clone: number[];
  warm: number[];
}

/**
 * `SIGNUPS` sign-ups by cloning the template (the bench's Silo has no warm pool), then `SIGNUPS`
 * from a warm pool of that many databases filled beforehand (not timed), as provisionCompany runs
 * them for `POST /api/companies`, the first admin's bcrypt hash included. The pool is off again after.
 */
export async function signUps(ctx: SiloContext, size: number, serverId: string): Promise<SignUps> {
  const config = ctx.config as { warmPool: number };
  const result: SignUps = { clone: [], warm: [] };
  for (let i = 0; i < SIGNUPS; i++) {
    const one = await createTimed(ctx, `signup-clone-${size}-${i}`);
    if (one.via !== 'template') throw new Error(`a clone sign-up went by ${String(one.via)}`);
    result.clone.push(one.ms);
  }
  config.warmPool = SIGNUPS;
  try {
    const refill = await refillServer(ctx, serverId);
    if (refill.error) throw new Error(`could not fill the warm pool: ${refill.error}`);
    for (let i = 0; i < SIGNUPS; i++) {
      const one = await createTimed(ctx, `signup-warm-${size}-${i}`);
      if (one.via !== 'warm') throw new Error(`a warm sign-up went by ${String(one.via)}`);
      result.warm.push(one.ms);
    }
  } finally {
    config.warmPool = 0;
  }
  return result;
}

export interface Reads {
  times: number[];
  /** Of the timed reads, the share the pool map answered from an open pool. */
  hitRate: number;
  openPools: number;
}

/**
 * `READS` reads of a company's documents (a page of 20, as GET /api/documents reads them), each of
 * a company drawn at random from all active ones, `READ_CONCURRENCY` at once, through the pool map
 * with its default bounds; after an untimed pass of the same size, so that the pool map holds what
 * it would hold in steady state.
 */
export async function randomReads(ctx: SiloContext): Promise<Reads> {
  const fleet: CompanyRow[] = await ctx.db.select().from(companies).where(eq(companies.status, 'active'));
  const read = (company: CompanyRow) => ctx.tenants.run(company, (db) => db.execute(sql`select id, title from documents limit 20`));
  const pass = async (times?: number[]) => {
    let left = READS;
    const worker = async () => {
      while (left-- > 0) {
        const company = fleet[Math.floor(Math.random() * fleet.length)]!;
        const started = performance.now();
        await read(company);
        times?.push(performance.now() - started);
      }
    };
    await Promise.all(Array.from({ length: READ_CONCURRENCY }, worker));
  };
  await pass();
  const before = ctx.tenants.pools.stats();
  const times: number[] = [];
  await pass(times);
  const after = ctx.tenants.pools.stats();
  const hits = after.hits - before.hits;
  return { times, hitRate: hits / (hits + after.misses - before.misses), openPools: after.openPools };
}

export interface Migration {
  companies: number;
  seconds: number;
}

/**
 * One new migration (a column and an index on documents) appended to the run's migrations folder,
 * read again as a restart with the new code does, then brought to every company and the template
 * by the fleet runner at `concurrency`, as `silo migrate apply` does.
 */
export async function fleetMigration(ctx: SiloContext, folder: string, size: number, concurrency: number): Promise<Migration> {
  const column = `bench_scale_${size}`;
  appendMigration(
    folder,
    `${String(ctx.tenantMigrations.migrations.length).padStart(4, '0')}_bench_scale_${size}`,
    `ALTER TABLE "documents" ADD COLUMN "${column}" integer DEFAULT 0 NOT NULL;\n--> statement-breakpoint\n` +
      `CREATE INDEX "documents_${column}_idx" ON "documents" USING btree ("${column}");`,
  );
  ctx.tenantMigrations = loadMigrationSet(folder);
  const started = performance.now();
  const run = await migrateFleet(ctx, { concurrency, actor: 'bench' });
  const seconds = (performance.now() - started) / 1000;
  const migrated = run.results.filter((r) => r.status === 'migrated').length;
  if (!fleetSucceeded(run)) throw new Error(`the fleet migration failed: ${run.results.find((r) => r.status === 'failed')?.error}`);
  return { companies: migrated, seconds };
}
