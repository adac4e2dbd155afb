// How Silo's own costs grow with the fleet, on one server: the fleet is grown step by step (10,
// 100, 500 companies by default) and at each size the same figures are taken, the smallest size
// being the baseline of the run: the status and the companies list (first page, and a search) as
// the API answers them, a start-up (openSilo with the templates prepared, then close), this
// process's RSS and heap, the heap one open tenant pool costs, the management database's size;
// then sign-ups by cloning and from the warm pool, tenant reads at random over all companies, and
// one new migration over the whole fleet (bench/scale-measures.ts).
//
//   npm run bench:scale [-- --sizes 100,1000,3000]    (or BENCH_SIZES)
//   BENCH_DATABASE_URL=postgres://...             an existing server instead of an embedded one
//
// Results and their reading: docs/scale.md.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { migrationsFolder, type OpenOptions, openSilo } from '../src/bootstrap.ts';
import { loadConfig } from '../src/base/config/config.ts';
import type { SiloContext } from '../src/context.ts';
import { listCompanies } from '../src/operations/companies.ts';
import { provisionCompany } from '../src/operations/provisioning/provision-company.ts';
import { systemStatus } from '../src/operations/system-status.ts';
import {
  formatTable,
  machineInfo,
  median,
  ms,
  openBenchSilo,
  option,
  percentile,
  serverInfo,
  silentLog,
  startBenchServer,
} from './support.ts';
import { cliDefaultConcurrency } from './migration-support.ts';
import { fleetMigration, type Migration, randomReads, type Reads, SIGNUPS, type SignUps, signUps } from './scale-measures.ts';

const SAMPLES = 30;
/** Pools opened to measure one pool's heap: bounded by the server's connections. */
const POOLS = 40;

async function timed(run: () => Promise<unknown>, samples = SAMPLES): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return times;
}

const collect = () => (globalThis as { gc?: () => void }).gc?.();

/** Grows the fleet to `size` companies, four creations at a time. */
async function growTo(ctx: SiloContext, from: number, size: number): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < size) {
      const n = next++;
      const slug = `scale-${String(n).padStart(5, '0')}`;
      await provisionCompany(
        ctx,
        { name: `Scale ${n}`, slug, admin: { email: `a@${slug}.example`, password: 'scale-password-1' } },
        'bench',
      );
      if ((n + 1) % 100 === 0) process.stderr.write(`  ... ${n + 1} companies\n`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

/** Heap per open pool: `POOLS` companies' pools opened with one query each, the heap before and after. */
async function heapPerPool(env: Record<string, string>): Promise<number> {
  const silo = await openSilo(
    loadConfig({ ...env, SILO_POOL_PER_COMPANY: '1', SILO_POOL_SERVER_BUDGET: '60', SILO_POOL_MAX_POOLS: '60' }),
    { ...openOptions, log: silentLog },
  );
  try {
    const rows = (await silo.ctx.db.query.companies.findMany({ where: (c, { eq }) => eq(c.status, 'active'), limit: POOLS })) ?? [];
    collect();
    const before = process.memoryUsage().heapUsed;
    for (const company of rows) await silo.ctx.tenants.run(company, (db) => db.execute(sql`select 1`));
    collect();
    return (process.memoryUsage().heapUsed - before) / rows.length;
  } finally {
    await silo.close();
  }
}

interface Row {
  size: number;
  status: number[];
  list: number[];
  search: number[];
  startup: number[];
  rss: number;
  heap: number;
  perPool: number;
  managementBytes: number;
  signUps: SignUps;
  reads: Reads;
  migration: Migration;
}

async function measure(ctx: SiloContext, env: Record<string, string>, size: number): Promise<Row> {
  const status = await timed(() => systemStatus(ctx));
  const list = await timed(() => listCompanies(ctx, { limit: 50 }));
  const search = await timed(() => listCompanies(ctx, { limit: 50, q: '0042' }));
  const startup = await timed(async () => {
    const silo = await openSilo(loadConfig(env), { ...openOptions, prepareTemplates: true, log: silentLog });
    await silo.close();
  }, 3);
  const perPool = await heapPerPool(env);
  collect();
  const memory = process.memoryUsage();
  const [db] = await ctx.sql<{ bytes: number }[]>`select pg_database_size(current_database())::float8 as bytes`;
  const [server] = await ctx.sql<{ id: string }[]>`select id from database_servers`;
  const reads = await randomReads(ctx);
  const migration = await fleetMigration(ctx, openOptions.tenantMigrationsFolder!, size, cliDefaultConcurrency());
  const made = await signUps(ctx, size, server!.id);
  return {
    size,
    status,
    list,
    search,
    startup,
    rss: memory.rss,
    heap: memory.heapUsed,
    perPool,
    managementBytes: db!.bytes,
    signUps: made,
    reads,
    migration,
  };
}

/** The run's own copy of the tenant migrations, to which each size's new migration is added. */
const migrations = mkdtempSync(join(os.tmpdir(), 'silo-bench-scale-migrations-'));
process.once('exit', () => rmSync(migrations, { recursive: true, force: true }));
cpSync(migrationsFolder('tenant'), migrations, { recursive: true });
const openOptions: OpenOptions = { tenantMigrationsFolder: migrations };

const server = await startBenchServer();
let failed = false;
try {
  const sizes = (option('sizes', 'BENCH_SIZES') ?? '10,100,500').split(',').map(Number);
  if (sizes.some((s) => !Number.isInteger(s) || s < 1))
    throw new Error('--sizes / BENCH_SIZES: a comma-separated list of positive integers');
  sizes.sort((a, b) => a - b);
  // No warm pool: the fleet grows by cloning, and no refiller runs beside the measurements.
  const bench = await openBenchSilo(server.url, { SILO_WARM_POOL: '0' }, openOptions);
  try {
    const ctx = bench.silo.ctx;
    await ctx.sql`update database_servers set capacity = ${sizes.at(-1)! + 2 * SIGNUPS * sizes.length + 10}`;
    console.log('Silo scale benchmark: how its own costs grow with the fleet (one server)');
    console.log(`  postgres:   ${await serverInfo(ctx.sql)} (${server.embedded ? 'embedded' : 'BENCH_DATABASE_URL'})`);
    console.log(`  machine:    ${machineInfo()}`);
    console.log(`  per size:   status, list and search ${SAMPLES} times each; start-up 3 times; heap of ${POOLS} open pools\n`);
    const rows: Row[] = [];
    const count = async () => (await ctx.sql<{ n: number }[]>`select count(*)::int as n from companies`)[0]!.n;
    for (const size of sizes) {
      const started = performance.now();
      // The sign-ups of the size before count towards this one.
      await growTo(ctx, await count(), size);
      const have = await count();
      process.stderr.write(`  ${have} companies (${((performance.now() - started) / 1000).toFixed(0)} s to grow); measuring\n`);
      rows.push(await measure(ctx, bench.env, have));
    }
    const p = (values: number[]) => `${ms(median(values))} / ${ms(percentile(values, 99))}`;
    console.log(
      formatTable(
        [
          'companies',
          'status p50/p99 ms',
          'list p50/p99 ms',
          'search p50/p99 ms',
          'start-up p50 ms',
          'RSS MB',
          'heap MB',
          'heap per pool KB',
          'management DB MB',
        ],
        rows.map((r) => [
          String(r.size),
          p(r.status),
          p(r.list),
          p(r.search),
          ms(median(r.startup)),
          (r.rss / 2 ** 20).toFixed(0),
          (r.heap / 2 ** 20).toFixed(1),
          (r.perPool / 1024).toFixed(0),
          (r.managementBytes / 2 ** 20).toFixed(1),
        ]),
      ),
    );
    console.log(
      `\nSign-ups (${SIGNUPS} per path, one at a time, the admin's bcrypt hash included), tenant reads at random over ` +
        'all active companies (a page of documents, 8 at once, the default pool bounds), and one new migration ' +
        `(a column and an index) over the fleet at \`silo migrate apply\`'s default concurrency`,
    );
    console.log(
      formatTable(
        ['companies', 'sign-up clone p50/p99 ms', 'sign-up warm p50/p99 ms', 'read p50/p99 ms', 'pool hits', 'migrated', 'companies/s'],
        rows.map((r) => [
          String(r.size),
          p(r.signUps.clone),
          p(r.signUps.warm),
          p(r.reads.times),
          `${(r.reads.hitRate * 100).toFixed(0)}% (${r.reads.openPools} open)`,
          String(r.migration.companies),
          (r.migration.companies / r.migration.seconds).toFixed(1),
        ]),
      ),
    );
    const [first, last] = [rows[0]!, rows.at(-1)!];
    const grow = (a: number, b: number) => `${(b / a).toFixed(2)}x`;
    console.log(
      `\n${last.size} against ${first.size} companies (${(last.size / first.size).toFixed(0)}x the fleet): ` +
        `status ${grow(median(first.status), median(last.status))}, list ${grow(median(first.list), median(last.list))}, ` +
        `search ${grow(median(first.search), median(last.search))}, start-up ${grow(median(first.startup), median(last.startup))}, ` +
        `RSS ${grow(first.rss, last.rss)}, management DB ${grow(first.managementBytes, last.managementBytes)}, ` +
        `clone sign-up ${grow(median(first.signUps.clone), median(last.signUps.clone))}, ` +
        `warm sign-up ${grow(median(first.signUps.warm), median(last.signUps.warm))}, ` +
        `read ${grow(median(first.reads.times), median(last.reads.times))}, ` +
        `migration companies/s ${grow(first.migration.companies / first.migration.seconds, last.migration.companies / last.migration.seconds)}`,
    );
    const perCompany = (last.managementBytes - first.managementBytes) / (last.size - first.size);
    console.log(`management database per company: ${(perCompany / 1024).toFixed(1)} KB (audit rows included)`);
  } finally {
    await bench.close();
  }
} catch (error) {
  failed = true;
  console.error('benchmark failed:', error);
} finally {
  await server.stop().catch((error: unknown) => {
    failed = true;
    console.error('could not stop the PostgreSQL server:', error);
  });
}
process.exit(failed ? 1 : 0);
