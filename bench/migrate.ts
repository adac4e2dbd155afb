// How fast a new tenant migration reaches a whole fleet: Silo's fleet runner (migrateFleet, called
// in-process as `silo migrate apply` calls it, at the CLI's default concurrency and optionally at
// higher ones) against the loop a user would write, drizzle's own migrate() per company, one after
// another. Every runner gets a fresh fleet of its own, provisioned the same way and at the same
// version, and the same new migration (a column and an index); only the migration phase is timed.
//
//   npm run bench:migrate [-- --count N]     N companies per fleet (default 500; or BENCH_COUNT)
//   ... -- --extra 4,16                      extra Silo rows at these concurrencies (default: 8 and 16,
//                                            less the CLI's default; "none" for none; or BENCH_EXTRA)
//   BENCH_DATABASE_URL=postgres://...        an existing server (admin login) instead of an embedded one
//
// Results and their reading: docs/migrations.md.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { and, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { migrationsFolder, openSilo, type Silo } from '../src/bootstrap.ts';
import { loadConfig } from '../src/base/config/config.ts';
import type { SiloContext } from '../src/context.ts';
import { companies, type CompanyRow } from '../src/control-plane/schema.ts';
import { postmasterPid, startEmbeddedPostgres } from '../src/base/embedded/embedded-postgres.ts';
import { fleetStatus, fleetSucceeded, migrateFleet } from '../src/operations/migrations/fleet.ts';
import { loadMigrationSet } from '../src/base/db/migration-set.ts';
import { provisionCompany } from '../src/operations/provisioning/provision-company.ts';
import {
  type CpuSnapshot,
  cpuSnapshot,
  formatTable,
  intOption,
  machineInfo,
  median,
  ms,
  option,
  serverInfo,
  silentLog,
  withDatabase,
} from './support.ts';
import { sealedAt } from '../src/base/crypto/credentials.ts';
import { appendMigration, cliDefaultConcurrency } from './migration-support.ts';

const PROVISION_CONCURRENCY = 4;
const VERIFY_CONCURRENCY = 8;
const NEW_MIGRATION = {
  tag: '0001_bench_priority',
  text:
    'ALTER TABLE "documents" ADD COLUMN "bench_priority" integer DEFAULT 0 NOT NULL;\n--> statement-breakpoint\n' +
    'CREATE INDEX "documents_bench_priority_idx" ON "documents" USING btree ("bench_priority");',
};

interface Fleet {
  /** silo: migrateFleet at `concurrency`; loop: drizzle's migrate() per company, one at a time. */
  runner: 'silo' | 'loop';
  concurrency: number;
  label: string;
  prefix: string;
  silo: Silo;
  result?: { seconds: number; perCompanyMs: number[] };
  cpu?: { before: CpuSnapshot; after: CpuSnapshot };
}

/** Runs `work` over `items` with at most `limit` at once; the first error rejects (after the rest stop). */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>) {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        await work(items[index]!, index);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
}

function randomPrefix(index: number): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const tail = Array.from({ length: 6 }, () => letters[Math.floor(Math.random() * letters.length)]).join('');
  return `bm${tail}${index}`;
}

async function activeCompanies(ctx: SiloContext): Promise<CompanyRow[]> {
  return ctx.db.select().from(companies).where(eq(companies.status, 'active')).orderBy(companies.createdAt, companies.id);
}

/** Reads what a company's database records, over an admin login (the tenant's own role could too). */
async function inspect(ctx: SiloContext, company: CompanyRow) {
  const sql = await ctx.servers.open(company.serverId!, company.databaseName!);
  try {
    const [row] = await sql<{ col: boolean; idx: boolean; hashes: string[] | null }[]>`
      select exists(select 1 from information_schema.columns
                    where table_schema = 'public' and table_name = 'documents' and column_name = 'bench_priority') as col,
             to_regclass('public.documents_bench_priority_idx') is not null as idx,
             (select array_agg(hash order by id) from drizzle.__drizzle_migrations) as hashes`;
    return row!;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function openFleet(
  serverUrl: string,
  index: number,
  folder: string,
  runner: Fleet['runner'],
  concurrency: number,
  label: string,
): Promise<Fleet> {
  const prefix = randomPrefix(index);
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    await admin`create database ${admin(`${prefix}_management`)}`;
  } finally {
    await admin.end({ timeout: 5 });
  }
  const config = loadConfig({
    DATABASE_URL: withDatabase(serverUrl, `${prefix}_management`),
    SILO_JWT_SECRET: 'bench-jwt-secret-bench-jwt-secret-bench-jwt',
    SILO_MASTER_KEY: Buffer.alloc(32, index + 1).toString('hex'),
    SILO_DATA_DIR: join(os.tmpdir(), `${prefix}-unused`),
    SILO_DB_PREFIX: prefix,
    SILO_LOG_LEVEL: 'silent',
  });
  const silo = await openSilo(config, { tenantMigrationsFolder: folder, prepareTemplates: true, log: silentLog });
  return { runner, concurrency, label, prefix, silo };
}

/** Drops every database (forcing sessions out) and role named `${prefix}_...` or `${prefix}__...`. */
async function dropByPrefix(serverUrl: string, prefix: string): Promise<void> {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  const like = `${prefix}\\_%`;
  try {
    for (const { datname } of await admin<{ datname: string }[]>`select datname from pg_database where datname like ${like}`) {
      await admin`drop database if exists ${admin(datname)} with (force)`;
    }
    for (const { rolname } of await admin<{ rolname: string }[]>`select rolname from pg_roles where rolname like ${like}`) {
      await admin`drop role if exists ${admin(rolname)}`;
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/** So that a checkpoint owed to the provisioning's WAL falls between phases, not inside one. */
async function checkpoint(ctx: SiloContext): Promise<void> {
  await ctx.sql`checkpoint`.catch(() => {});
}

async function runSilo(fleet: Fleet, count: number): Promise<void> {
  const ctx = fleet.silo.ctx;
  const started = performance.now();
  const run = await migrateFleet(ctx, { concurrency: fleet.concurrency, actor: 'bench' });
  const seconds = (performance.now() - started) / 1000;
  const failed = run.results.filter((r) => r.status === 'failed');
  const migrated = run.results.filter((r) => r.status === 'migrated').length;
  if (!fleetSucceeded(run) || migrated !== count) {
    throw new Error(
      `${fleet.label}: ${migrated} of ${count} migrated, ${failed.length} failed, ${run.notAttempted.length} not attempted; first: ${failed[0]?.error}`,
    );
  }
  if (run.templates.some((t) => t.version !== run.latest)) throw new Error(`${fleet.label}: a template was not migrated`);
  fleet.result = { seconds, perCompanyMs: run.results.map((r) => r.durationMs) };
}

/** The baseline: what a user would write with drizzle alone. */
async function runLoop(fleet: Fleet, folder: string, count: number): Promise<void> {
  const ctx = fleet.silo.ctx;
  const perCompanyMs: number[] = [];
  const started = performance.now();
  const fleetRows = await activeCompanies(ctx);
  for (const company of fleetRows) {
    const one = performance.now();
    const url = await ctx.servers.urlFor(company.serverId!, company.databaseName!, {
      user: company.roleName!,
      password: ctx.box.open(company.credentialsEncrypted!, sealedAt.companyCredentials(company.id)),
    });
    const client = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await migrate(drizzle(client), { migrationsFolder: folder });
    } finally {
      await client.end();
    }
    perCompanyMs.push(performance.now() - one);
  }
  const seconds = (performance.now() - started) / 1000;
  if (fleetRows.length !== count) throw new Error(`${fleet.label}: ${fleetRows.length} companies, expected ${count}`);
  fleet.result = { seconds, perCompanyMs };
}

/** The embedded server, when the run started one: its postmaster's pid, for CPU accounting. */
interface Embedded {
  postmasterPid: number | undefined;
}

async function bench(
  serverUrl: string,
  embedded: Embedded | undefined,
  folder: string,
  fleets: Fleet[],
  cleanups: (() => Promise<void>)[],
) {
  const count = intOption('count', 'BENCH_COUNT', 500);
  const cliDefault = cliDefaultConcurrency();
  const extraRaw = option('extra', 'BENCH_EXTRA');
  const extra =
    extraRaw === 'none'
      ? []
      : extraRaw === undefined
        ? [8, 16].filter((c) => c !== cliDefault)
        : extraRaw.split(',').map((v) => Number(v.trim()));
  if (extra.some((c) => !Number.isInteger(c) || c < 1))
    throw new Error('--extra / BENCH_EXTRA is a comma-separated list of concurrencies, or "none"');

  const plan: [Fleet['runner'], number, string][] = [
    ['silo', cliDefault, `silo migrateFleet (CLI default)`],
    ['loop', 1, `drizzle migrate() loop`],
    ...extra.map((c): [Fleet['runner'], number, string] => ['silo', c, `silo migrateFleet`]),
  ];
  for (const [index, [runner, concurrency, label]] of plan.entries()) {
    const fleet = await openFleet(serverUrl, index, folder, runner, concurrency, label);
    fleets.push(fleet);
    if (!embedded) cleanups.push(() => dropByPrefix(serverUrl, fleet.prefix));
  }
  const first = fleets[0]!.silo.ctx;
  const perServer = Math.floor(first.config.pools.serverBudget / 4);

  console.log('Silo fleet migration benchmark');
  console.log(`  postgres:   ${await serverInfo(first.sql)} (${embedded ? 'embedded, max_connections=300' : 'BENCH_DATABASE_URL'})`);
  console.log(`  machine:    ${machineInfo()}`);
  console.log(`  fleets:     ${fleets.length} x ${count} companies on one server, each with its own management database`);
  console.log(
    `  migration:  ${NEW_MIGRATION.tag} (add column + index on documents, empty tables) on top of ${first.tenantMigrations.latest}`,
  );
  console.log(
    `  silo:       migrateFleet() in-process, as \`silo migrate apply\` runs it; per-server bound ${perServer} (SILO_POOL_SERVER_BUDGET / 4)`,
  );
  console.log('  loop:       for each company: postgres(url as its role, { max: 1 }), drizzle migrate(), end()\n');

  // Provision every fleet at the starting version.
  const provisionStarted = performance.now();
  for (const fleet of fleets) {
    await fleet.silo.ctx.sql`update database_servers set capacity = greatest(capacity, ${count + 10})`;
  }
  const jobs = fleets.flatMap((fleet) => Array.from({ length: count }, (_, i) => ({ fleet, slug: `co-${String(i).padStart(5, '0')}` })));
  let provisioned = 0;
  await eachLimited(jobs, PROVISION_CONCURRENCY, async ({ fleet, slug }) => {
    await provisionCompany(
      fleet.silo.ctx,
      { name: `Bench ${slug}`, slug, admin: { email: `admin@${slug}.example`, password: 'bench-password-1' } },
      'bench',
    );
    if (++provisioned % 250 === 0) process.stderr.write(`  ... provisioned ${provisioned}/${jobs.length}\n`);
  });
  console.log(
    `  provisioned ${jobs.length} companies in ${((performance.now() - provisionStarted) / 1000).toFixed(1)} s (not timed below)`,
  );

  // Every fleet starts from the same version, recorded both in the management database and in the tenants.
  const startSet = first.tenantMigrations;
  for (const fleet of fleets) {
    const ctx = fleet.silo.ctx;
    const rows = await activeCompanies(ctx);
    const atStart = rows.filter((r) => r.schemaVersion === startSet.latest).length;
    if (rows.length !== count || atStart !== count)
      throw new Error(`${fleet.prefix}: ${atStart} of ${rows.length} companies at ${startSet.latest}`);
    for (const company of rows.filter((_, i) => i % Math.ceil(count / 20) === 0)) {
      const state = await inspect(ctx, company);
      if (state.col || JSON.stringify(state.hashes) !== JSON.stringify(startSet.migrations.map((m) => m.hash))) {
        throw new Error(`${company.slug} of ${fleet.prefix} does not start at ${startSet.latest}`);
      }
    }
  }

  // The deploy: a new migration in the folder, read again as a restart with the new code does.
  appendMigration(folder, NEW_MIGRATION.tag, NEW_MIGRATION.text);
  for (const fleet of fleets) {
    fleet.silo.ctx.tenantMigrations = loadMigrationSet(folder);
    const status = await fleetStatus(fleet.silo.ctx);
    if (status.behind !== count) throw new Error(`${fleet.prefix}: ${status.behind} behind, expected ${count}`);
  }
  const finalSet = first.tenantMigrations;

  // The timed phase, one fleet at a time.
  for (const fleet of fleets) {
    await checkpoint(fleet.silo.ctx);
    process.stderr.write(`  ... migrating: ${fleet.label}, concurrency ${fleet.concurrency}\n`);
    const before = cpuSnapshot(embedded?.postmasterPid);
    if (fleet.runner === 'silo') await runSilo(fleet, count);
    else await runLoop(fleet, folder, count);
    fleet.cpu = { before, after: cpuSnapshot(embedded?.postmasterPid) };
  }

  // Every company of every fleet has the column and the index, and records the same two hashes.
  const verifyStarted = performance.now();
  const expected = JSON.stringify(finalSet.migrations.map((m) => m.hash));
  for (const fleet of fleets) {
    const ctx = fleet.silo.ctx;
    const rows = await activeCompanies(ctx);
    let wrong = 0;
    await eachLimited(rows, VERIFY_CONCURRENCY, async (company) => {
      const state = await inspect(ctx, company);
      if (!state.col || !state.idx || JSON.stringify(state.hashes) !== expected) wrong++;
    });
    if (wrong > 0) throw new Error(`${fleet.label}: ${wrong} of ${rows.length} companies lack the new migration`);
    if (fleet.runner === 'silo') {
      const behind = await ctx.db
        .select({ id: companies.id })
        .from(companies)
        .where(and(eq(companies.status, 'active'), eq(companies.schemaVersion, finalSet.latest!)));
      if (behind.length !== count)
        throw new Error(`${fleet.label}: the management database records ${behind.length} of ${count} at ${finalSet.latest}`);
    }
  }
  console.log(
    `  verified: all ${fleets.length * count} companies have documents.bench_priority and its index, and record the same ` +
      `${finalSet.migrations.length} hashes in drizzle.__drizzle_migrations (${((performance.now() - verifyStarted) / 1000).toFixed(1)} s)\n`,
  );

  const loop = fleets.find((f) => f.runner === 'loop')!.result!;
  const rate = (r: NonNullable<Fleet['result']>) => count / r.seconds;
  console.log(`Migration phase: ${count} companies per fleet, one new migration; wall clock from the call to the last company done`);
  console.log(
    formatTable(
      ['runner', 'concurrency', 'seconds', 'companies/s', 'vs loop', 'p50 ms', 'node CPU ms', 'pg CPU ms', 'machine busy'],
      fleets.map((f) => {
        const r = f.result!;
        const { before, after } = f.cpu!;
        const bound = f.runner === 'silo' && f.concurrency > perServer ? ` (${perServer}/server)` : '';
        const busy = (after.machineBusyTicks - before.machineBusyTicks) / (after.machineTotalTicks - before.machineTotalTicks);
        return [
          f.label,
          `${f.concurrency}${bound}`,
          r.seconds.toFixed(2),
          rate(r).toFixed(1),
          `${(rate(r) / rate(loop)).toFixed(2)}x`,
          ms(median(r.perCompanyMs)),
          ms((after.nodeMs - before.nodeMs) / count),
          ms((after.postgresMs - before.postgresMs) / count),
          `${(busy * 100).toFixed(0)}%`,
        ];
      }),
    ),
  );
  console.log(
    "p50 ms: one company, Silo from its result's durationMs (connect to applied, before the management database records it),\n" +
      '  the loop from connect to end. CPU: per company, this process and the PostgreSQL server (embedded only);\n' +
      `  machine busy: all ${os.cpus().length} cores during the phase, whoever used them.`,
  );
  const silo = fleets[0]!.result!;
  const ratio = rate(silo) / rate(loop);
  console.log(`\nSilo (concurrency ${cliDefault}) / loop: ${ratio.toFixed(2)}x`);
  console.log(
    `targets: Silo >= 100 companies/s: ${rate(silo) >= 100 ? 'met' : 'NOT met'} (${rate(silo).toFixed(1)}); ` +
      `>= 2.5x the loop: ${ratio >= 2.5 ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)`,
  );
}

const cleanups: (() => Promise<void>)[] = [];
const fleets: Fleet[] = [];
let failed = false;

async function cleanUp(): Promise<void> {
  // Silos first (they hold connections), then whatever was registered, newest first.
  for (const fleet of fleets) await fleet.silo.close().catch((error: unknown) => console.error('could not close a Silo:', error));
  for (const cleanup of cleanups.reverse()) {
    await cleanup().catch((error: unknown) => {
      failed = true;
      console.error('cleanup failed:', error);
    });
  }
  cleanups.length = 0;
}

process.once('SIGINT', () => {
  console.error('interrupted: cleaning up');
  void cleanUp().finally(() => process.exit(130));
});

try {
  const folder = mkdtempSync(join(os.tmpdir(), 'silo-bench-migrations-'));
  const removeFolder = () => rmSync(folder, { recursive: true, force: true });
  process.once('exit', removeFolder);
  cleanups.push(async () => removeFolder());
  cpSync(migrationsFolder('tenant'), folder, { recursive: true });

  let serverUrl = process.env.BENCH_DATABASE_URL ? withDatabase(process.env.BENCH_DATABASE_URL, 'postgres') : undefined;
  let embedded: Embedded | undefined;
  if (!serverUrl) {
    const dir = mkdtempSync(join(os.tmpdir(), 'silo-bench-pg-'));
    const removeDir = () => rmSync(dir, { recursive: true, force: true });
    // Also when the process exits early; Ctrl-C reaches the server too (same process group), and it shuts down.
    process.once('exit', removeDir);
    cleanups.push(async () => removeDir());
    // Embedded: stopping the server and removing its directory removes every fleet at once.
    const server = await startEmbeddedPostgres(dir, { maxConnections: 300 });
    cleanups.push(() => server.stop());
    serverUrl = server.url;
    embedded = { postmasterPid: postmasterPid(server.clusterDir) };
  }
  await bench(serverUrl, embedded, folder, fleets, cleanups);
} catch (error) {
  failed = true;
  console.error('benchmark failed:', error);
} finally {
  await cleanUp();
}
// Explicitly, with the run's status: an open handle must not keep a finished bench alive.
process.exit(failed ? 1 : 0);
