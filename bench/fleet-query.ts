// How fast one read-only query reaches a whole fleet: Silo's fan-out (fleetQuery, as POST
// /api/fleet/query and `silo fleet query` run it) against the loops a user would write by hand:
// one connection per company as the company's role, one company after another, and the same loop
// with as many companies at once as Silo's fan-out runs. All three in one run, on one fleet, each
// repeated and rotated so that none always goes first; medians are printed.
//
//   npm run bench:fleet-query [-- --count N]   N companies (default 500; or BENCH_COUNT)
//   ... -- --repeat R                          rounds of the three runners (default 3; or BENCH_REPEAT)
//   BENCH_DATABASE_URL=postgres://...          an existing server (admin login) instead of an embedded one
//
// Results and their reading: docs/querying.md.
import postgres from 'postgres';
import os from 'node:os';
import { companyDatabaseUrl } from '../src/data-plane/company-database.ts';
import type { SiloContext } from '../src/context.ts';
import type { CompanyRow } from '../src/control-plane/schema.ts';
import { companies } from '../src/control-plane/schema.ts';
import { DEFAULT_FLEET_CONCURRENCY, fleetQuery } from '../src/operations/querying/fleet-query.ts';
import { provisionCompany } from '../src/operations/provisioning/provision-company.ts';
import {
  busyShare,
  formatTable,
  intOption,
  machineInfo,
  machineTicks,
  median,
  ms,
  openBenchSilo,
  percentile,
  runBench,
  serverInfo,
  startBenchServer,
} from './support.ts';

const SQL = 'select count(*) from documents';
const PROVISION_CONCURRENCY = 4;

type Runner = 'silo fan-out' | 'loop, sequential' | 'loop, concurrent';

/** Runs `work` over `items` with at most `limit` at once. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The hand-written loop: a connection per company as its role, the query, the connection closed. */
async function handLoop(ctx: SiloContext, fleet: CompanyRow[], concurrency: number): Promise<number[]> {
  const perCompany: number[] = [];
  await eachLimited(fleet, concurrency, async (company) => {
    const started = performance.now();
    const sql = postgres(await companyDatabaseUrl(ctx, company), { max: 1, onnotice: () => {} });
    try {
      await sql.unsafe(SQL);
    } finally {
      await sql.end({ timeout: 5 });
    }
    perCompany.push(performance.now() - started);
  });
  return perCompany;
}

async function siloFanOut(ctx: SiloContext, concurrency: number): Promise<number[]> {
  const perCompany: number[] = [];
  const { lines } = await fleetQuery(ctx, { sql: SQL, concurrency });
  for await (const line of lines) {
    if ('summary' in line) {
      if (line.summary.failed > 0) throw new Error(`${line.summary.failed} companies failed`);
      continue;
    }
    if (line.ok) perCompany.push(line.ms);
  }
  return perCompany;
}

async function main() {
  const count = intOption('count', 'BENCH_COUNT', 500);
  const repeat = intOption('repeat', 'BENCH_REPEAT', 3);
  const concurrency = DEFAULT_FLEET_CONCURRENCY;
  const server = await startBenchServer();
  const bench = await openBenchSilo(server.url, { SILO_LOG_LEVEL: 'silent' });
  const ctx = bench.silo.ctx;
  try {
    process.stderr.write(`provisioning ${count} companies...\n`);
    const slugs = Array.from({ length: count }, (_, i) => `fq-${String(i).padStart(4, '0')}`);
    await eachLimited(slugs, PROVISION_CONCURRENCY, async (slug) => {
      await provisionCompany(ctx, { name: slug, slug, admin: { email: `a@${slug}.example`, password: 'bench-password-1' } }, 'bench');
    });
    const fleet = await ctx.db.select().from(companies);

    const runs: Record<Runner, { seconds: number[]; perCompany: number[]; busy: number[] }> = {
      'silo fan-out': { seconds: [], perCompany: [], busy: [] },
      'loop, sequential': { seconds: [], perCompany: [], busy: [] },
      'loop, concurrent': { seconds: [], perCompany: [], busy: [] },
    };
    const order: Runner[] = ['silo fan-out', 'loop, sequential', 'loop, concurrent'];
    for (let round = 0; round < repeat; round++) {
      for (let i = 0; i < order.length; i++) {
        const runner = order[(i + round) % order.length]!;
        process.stderr.write(`round ${round + 1}/${repeat}: ${runner}...\n`);
        const ticks = machineTicks();
        const started = performance.now();
        const perCompany =
          runner === 'silo fan-out'
            ? await siloFanOut(ctx, concurrency)
            : await handLoop(ctx, fleet, runner === 'loop, sequential' ? 1 : concurrency);
        runs[runner].seconds.push((performance.now() - started) / 1000);
        runs[runner].perCompany.push(...perCompany);
        runs[runner].busy.push(busyShare(ticks, machineTicks()));
      }
    }

    const sequential = median(runs['loop, sequential'].seconds);
    const concurrent = median(runs['loop, concurrent'].seconds);
    const rows = order.map((runner) => {
      const { seconds, perCompany, busy } = runs[runner];
      const total = median(seconds);
      return [
        runner,
        runner === 'loop, sequential' ? '1' : String(concurrency),
        total.toFixed(2),
        (count / total).toFixed(0),
        ms(percentile(perCompany, 50)),
        ms(percentile(perCompany, 99)),
        `${(sequential / total).toFixed(2)}x`,
        `${(concurrent / total).toFixed(2)}x`,
        `${(median(busy) * 100).toFixed(0)}%`,
      ];
    });
    process.stdout.write(`\`${SQL}\` over ${count} companies, median of ${repeat} rounds\n`);
    process.stdout.write(`${machineInfo()}; ${await serverInfo(ctx.sql)}\n\n`);
    process.stdout.write(
      formatTable(
        [
          'runner',
          'at once',
          'seconds',
          'companies/s',
          'p50 ms/company',
          'p99 ms/company',
          'vs sequential',
          'vs concurrent loop',
          'machine busy',
        ],
        rows,
      ),
    );
    process.stdout.write(
      `\nmachine busy: the share of all ${os.cpus().length} cores' time that was busy during the run, whoever used it\n`,
    );
  } finally {
    await bench.close();
    await server.stop();
  }
}

runBench(main);
