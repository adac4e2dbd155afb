// What a request costs through Silo, against the physical limit of this stack and the naive
// pattern, and how Silo holds up when many more companies than pools are served at random. One
// PostgreSQL, one data set; every server and the load generator (autocannon) run as separate child
// processes on 127.0.0.1, so no two of them share an event loop:
//
//   (a) GET /api/documents/:id through Silo (openSilo + createApp + serve, as `npm start`), warm,
//       at the default log level (info: an access line per request, written to a file as a
//       deployment's stdout would be), and (a-warn) the same server code at SILO_LOG_LEVEL=warn
//   (b) the same primary-key select on a bare Hono route, on a postgres.js pool opened beforehand,
//       no auth: the most this stack can do (bench/request-server.ts)
//   (c) the naive pattern: a postgres.js client created, queried and ended per request, logged in
//       as the tenant role
//   (d) 1,000 companies hit at random, GET /api/users/:id, with the pool map bounded to 50 pools,
//       against Silo as it starts and, as the baseline of its memory figures, against the same
//       server with V8's default heap growth (src/base/heap-growth.ts)
//
// (a), (a-warn), (b) and (c) run in rounds that alternate them, so background noise falls on all four; the
// figures quoted are the medians over the rounds. Beside requests per second, each phase reports the
// server process's CPU time per request, which other work on the machine disturbs far less.
//
//   npm run bench:requests [-- --seconds 10 --rounds 2 --companies 1000 --connections 16]
//   ... -- --only abc         (a) to (c) only, no (d) (no 1,000 companies to provision)
//   ... -- --against DIR      also (a0): (a) served by another checkout of Silo in DIR (its own
//                             bench/request-server.ts; node_modules may be a link to this one's), in
//                             the same rounds: a change measured against the code before it, in one run
//   ... -- --profile DIR      also profile each server (V8's CPU profiler, from when it listens) into
//                             DIR/{silo-info,silo-warn,bare,naive,silo-d}.cpuprofile, and print the
//                             breakdown by component in µs per request (bench/requests-profile.ts)
//   BENCH_DATABASE_URL=postgres://...  an existing server (max_connections >= 400) instead of an embedded one
//
// Results and their reading: docs/pool-map.md and docs/request-path.md.
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import type { SiloContext } from '../src/context.ts';
import { startEmbeddedPostgres } from '../src/base/embedded/embedded-postgres.ts';
import { provisionCompany } from '../src/operations/provisioning/provision-company.ts';
import { listServers, updateServer } from '../src/control-plane/server-records.ts';
import { documents } from '../src/data-plane/schema.ts';
import type { LoadResult, LoadTarget } from './requests-load.ts';
import { load, type ServerChild, startServer } from './request-children.ts';
import { printBreakdowns } from './requests-profile.ts';
import {
  formatTable,
  intOption,
  machineInfo,
  median,
  ms,
  openBenchSilo,
  option,
  runBench,
  serverInfo,
  type BenchSilo,
  withDatabase,
} from './support.ts';
import { sealedAt } from '../src/base/crypto/credentials.ts';

const SECONDS = intOption('seconds', 'BENCH_SECONDS', 10);
const ROUNDS = intOption('rounds', 'BENCH_ROUNDS', 2);
const COMPANIES = intOption('companies', 'BENCH_COMPANIES', 1000);
const CONNECTIONS = intOption('connections', 'BENCH_CONNECTIONS', 16);
const PROFILE_DIR = option('profile', 'BENCH_PROFILE');
const ONLY_ABC = option('only', 'BENCH_ONLY') === 'abc';
const AGAINST = option('against', 'BENCH_AGAINST');
const WARMUP_SECONDS = 2;
// (d): maxPools binds, not the budget (300 / 3 per company = 100 pools per server, open or draining).
const D_MAX_POOLS = 50;
const D_BUDGET = 300;
const MAX_CONNECTIONS = 400;

// ---------------------------------------------------------------------------------------------
// Setup

async function startPostgres(): Promise<{ url: string; embedded: boolean; stop(): Promise<void> }> {
  const given = process.env.BENCH_DATABASE_URL;
  if (given) return { url: withDatabase(given, 'postgres'), embedded: false, stop: async () => {} };
  const dir = mkdtempSync(join(os.tmpdir(), 'silo-bench-requests-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  const server = await startEmbeddedPostgres(dir, { maxConnections: MAX_CONNECTIONS });
  return {
    url: server.url,
    embedded: true,
    async stop() {
      try {
        await server.stop();
      } finally {
        removeDir();
      }
    },
  };
}

/** A company with its first admin, and a token for that admin as POST /api/auth/login would issue. */
async function companyWithToken(ctx: SiloContext, slug: string) {
  const { company, admin } = await provisionCompany(
    ctx,
    { name: `Bench ${slug}`, slug, admin: { email: `admin@${slug}.example`, password: 'bench-password-1' } },
    'bench',
  );
  const { token } = await ctx.tokens.issue({ sub: admin.id, role: 'company_admin', cid: company.id });
  return { company, adminId: admin.id, token };
}

// ---------------------------------------------------------------------------------------------
// Reporting

/** a: Silo at the default log level, a0: the same from --against's checkout, w: Silo at warn, b: bare, c: naive. */
type Phase = 'a' | 'a0' | 'w' | 'b' | 'c';
const PHASES: readonly Phase[] = AGAINST ? ['a', 'a0', 'w', 'b', 'c'] : ['a', 'w', 'b', 'c'];

/** One round of a phase: the load generator's figures and the server's CPU time per request. */
type PhaseRun = LoadResult & { cpuPerRequest: number };

interface PhaseFigures {
  perSecond: number;
  p50: number;
  p99: number;
  cpuPerRequest: number;
  errors: number;
}

const failures = (r: LoadResult) => r.errors + r.timeouts + r.non2xx;
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

function medianFigures(runs: PhaseRun[]): PhaseFigures {
  return {
    perSecond: median(runs.map((r) => r.perSecond)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    cpuPerRequest: median(runs.map((r) => r.cpuPerRequest)),
    errors: runs.reduce((sum, r) => sum + failures(r), 0),
  };
}

/**
 * The median over the rounds of x/y within each round: phases of one round ran a few seconds
 * apart, so this follows the background load less than the ratio of the two medians does.
 */
function pairedRatio(x: PhaseRun[], y: PhaseRun[], field: 'perSecond' | 'cpuPerRequest'): number {
  return median(x.map((run, i) => run[field] / y[i]![field]));
}

function verdict(value: number, target: number, atLeast: boolean): string {
  const met = atLeast ? value >= target : value < target;
  return met ? 'met' : 'MISSED';
}

// ---------------------------------------------------------------------------------------------
// (d): many companies, few pools

const D_CONNECTIONS = CONNECTIONS * 2;
const D_SECONDS = SECONDS * 2;

interface DRun {
  label: string;
  load: LoadResult;
  cpuPerRequest: number;
  coldShare: number;
  evictions: number;
  memory: { rss: number; heapUsed: number; heapTotal: number }[];
  rssMax: number;
}

/** (d) against a Silo server of its own, started with `env`: warm-up, then the measured load with memory sampled. */
async function runD(label: string, env: Record<string, string>, targets: LoadTarget[], children: ServerChild[]): Promise<DRun> {
  const server = await startServer(
    'silo',
    { ...env, SILO_POOL_MAX_POOLS: String(D_MAX_POOLS), SILO_POOL_SERVER_BUDGET: String(D_BUDGET) },
    { dir: PROFILE_DIR, name: label === 'Silo' ? 'silo-d' : 'silo-d-baseline' },
  );
  children.push(server);
  try {
    const job = { url: server.url, connections: D_CONNECTIONS, warmupSeconds: 0, targets };
    await load({ ...job, seconds: WARMUP_SECONDS });
    const before = await server.stats();
    server.startRecording();
    const result = await load({ ...job, seconds: D_SECONDS });
    const memory = server.stopRecording();
    const after = await server.stats();
    const [b, a] = [before.pools!, after.pools!];
    const served = a.hits! + a.misses! - (b.hits! + b.misses!);
    return {
      label,
      load: result,
      cpuPerRequest: (after.cpuMicros - before.cpuMicros) / result.requests,
      coldShare: (a.misses! - b.misses!) / served,
      evictions: a.evictions! - b.evictions!,
      memory,
      rssMax: Math.max(...memory.map((m) => m.rss), after.rss),
    };
  } finally {
    await server.stop();
    children.splice(children.indexOf(server), 1);
  }
}

// ---------------------------------------------------------------------------------------------

const benchStarted = performance.now();
const elapsed = () => `${((performance.now() - benchStarted) / 1000).toFixed(0)} s`;

async function main() {
  console.log(
    `bench:requests: ${SECONDS} s per phase after ${WARMUP_SECONDS} s of warm-up, ${ROUNDS} rounds of (a) (a-warn) (b) (c), ${CONNECTIONS} connections; (d) ${COMPANIES} companies`,
  );
  console.log(`machine: ${machineInfo()}`);
  const pg = await startPostgres();
  let bench: BenchSilo | undefined;
  const children: ServerChild[] = [];
  try {
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
    console.log(`postgres: ${await serverInfo(admin)}; max_connections=${(await admin`show max_connections`)[0]!.max_connections}`);
    await admin.end();

    bench = await openBenchSilo(pg.url);
    const { ctx } = bench.silo;
    // Room for every company on the one server (its capacity counts companies; the default is 500).
    for (const server of await listServers(ctx)) await updateServer(ctx, server.id, { capacity: COMPANIES + 100 });

    // (a) (b) (c): one company, one document, its admin's token.
    const warm = await companyWithToken(ctx, 'warm');
    const [doc] = await ctx.tenants.run(warm.company, (db) =>
      db
        .insert(documents)
        .values({
          title: 'Quarterly report',
          content: 'Revenue grew in every region; the details follow in the attached tables. '.repeat(3),
          tags: ['finance', 'q3'],
          metadata: { pages: 12, confidential: false },
          createdBy: warm.adminId,
        })
        .returning({ id: documents.id }),
    );
    const { serverId, databaseName, roleName, credentialsEncrypted } = warm.company;
    const tenantUrl = await ctx.servers.urlFor(serverId!, databaseName!, {
      user: roleName!,
      password: ctx.box.open(credentialsEncrypted!, sealedAt.companyCredentials(warm.company.id)),
    });

    const sharedEnv = { ...bench.env, SILO_LOG_LEVEL: 'warn' };
    if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
    // (a) at the default level writes its log lines to a file, as a deployment's stdout goes to a
    // file or a pipe; the file shows that every request got its line.
    const logDir = mkdtempSync(join(os.tmpdir(), 'silo-bench-log-'));
    process.once('exit', () => rmSync(logDir, { recursive: true, force: true }));
    const logFile = join(logDir, 'silo.log');
    const logFd = openSync(logFile, 'w');
    const siloInfo = await startServer('silo', { ...bench.env, SILO_LOG_LEVEL: 'info' }, { dir: PROFILE_DIR, name: 'silo-info' }, logFd);
    closeSync(logFd);
    children.push(siloInfo);
    const silo = await startServer('silo', sharedEnv, { dir: PROFILE_DIR, name: 'silo-warn' });
    children.push(silo);
    // (b) and (c) on two processes of the same code, so that each profile holds one pattern.
    const bareEnv = { BENCH_TENANT_URL: tenantUrl, BENCH_POOL_SIZE: String(ctx.config.pools.perCompany) };
    const bare = await startServer('bare', bareEnv, { dir: PROFILE_DIR, name: 'bare' });
    children.push(bare);
    const naive = await startServer('bare', bareEnv, { dir: PROFILE_DIR, name: 'naive' });
    children.push(naive);

    const documentTarget = { path: `/api/documents/${doc!.id}`, headers: { authorization: `Bearer ${warm.token}` } };
    // (a0): the other checkout, at the default level too; its log lines are not counted.
    const against = AGAINST
      ? await startServer(
          'silo',
          { ...bench.env, SILO_LOG_LEVEL: 'info' },
          { dir: PROFILE_DIR, name: 'against-info' },
          openSync('/dev/null', 'w'),
          AGAINST,
        )
      : undefined;
    if (against) children.push(against);
    const phases: Partial<Record<Phase, { label: string; server: ServerChild; target: LoadTarget }>> = {
      ...(against ? { a0: { label: `(a0) the same from ${AGAINST}, info`, server: against, target: documentTarget } } : {}),
      a: { label: '(a) Silo GET /api/documents/:id, log level info (default)', server: siloInfo, target: documentTarget },
      w: { label: '(a-warn) the same, SILO_LOG_LEVEL=warn', server: silo, target: documentTarget },
      b: { label: '(b) bare Hono + postgres.js, same select', server: bare, target: { path: `/documents/${doc!.id}` } },
      c: { label: '(c) naive: a connection per request', server: naive, target: { path: `/naive/documents/${doc!.id}` } },
    };
    // The four answer the same JSON.
    const bodies = await Promise.all(
      Object.values(phases).map(async ({ server, target }) => {
        const res = await fetch(server.url + target.path, { headers: target.headers ?? {} });
        if (res.status !== 200) throw new Error(`${server.url}${target.path} answered ${res.status}: ${await res.text()}`);
        return res.text();
      }),
    );
    if (new Set(bodies).size !== 1) throw new Error(`the routes answer different bodies:\n${bodies.join('\n')}`);

    const runs: Record<Phase, PhaseRun[]> = { a: [], a0: [], w: [], b: [], c: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      for (const key of PHASES) {
        const { server, target, label } = phases[key]!;
        const job = { url: server.url, connections: CONNECTIONS, warmupSeconds: 0, targets: [target] };
        await load({ ...job, seconds: WARMUP_SECONDS });
        // The server's CPU time over the measured part only (the warm-up ran in a load of its own).
        const cpuBefore = (await server.stats()).cpuMicros;
        const result = await load({ ...job, seconds: SECONDS });
        const cpuPerRequest = ((await server.stats()).cpuMicros - cpuBefore) / result.requests;
        runs[key].push({ ...result, cpuPerRequest });
        console.log(
          `  round ${round} ${label}: ${result.perSecond.toFixed(0)} req/s, p50 ${ms(result.p50)} ms, p99 ${ms(result.p99)} ms, ` +
            `server CPU ${cpuPerRequest.toFixed(0)} µs/request, ${failures(result)} errors`,
        );
      }
    }
    const siloRss = (await silo.stats()).rss;
    await siloInfo.stop();
    await silo.stop();
    await bare.stop();
    await naive.stop();
    await against?.stop();
    children.length = 0;
    const accessLines = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((line) => line.includes('"msg":"request"')).length;
    const measuredInfo = runs.a.reduce((sum, r) => sum + r.requests, 0);

    const figures = Object.fromEntries(PHASES.map((k) => [k, medianFigures(runs[k])])) as Record<Phase, PhaseFigures>;
    const ab = figures.a.perSecond / figures.b.perSecond;
    const wb = figures.w.perSecond / figures.b.perSecond;
    const ac = figures.a.perSecond / figures.c.perSecond;

    // Report.
    console.log('');
    console.log(
      `(a), (a-warn), (b), (c): medians of ${ROUNDS} rounds of ${SECONDS} s, ${CONNECTIONS} connections; Silo's RSS after them ${mb(siloRss)} MB`,
    );
    console.log(`(a) wrote ${accessLines} access lines for ${measuredInfo} measured requests (and the warm-up's)`);
    console.log(
      formatTable(
        ['phase', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'errors'],
        PHASES.map((k) => [
          phases[k]!.label,
          figures[k].perSecond.toFixed(0),
          ms(figures[k].p50),
          ms(figures[k].p99),
          figures[k].cpuPerRequest.toFixed(0),
          String(figures[k].errors),
        ]),
      ),
    );
    console.log('');
    console.log(
      formatTable(
        ['ratio', 'value', 'target', ''],
        [
          ['a/b (Silo at the default level / physical limit)', ab.toFixed(2), '>= 0.85', verdict(ab, 0.85, true)],
          ['a-warn/b (Silo at warn / physical limit)', wb.toFixed(2), '', ''],
          ['server CPU per request, a/b', (figures.a.cpuPerRequest / figures.b.cpuPerRequest).toFixed(2), '', ''],
          ['a/c (Silo / connection per request)', ac.toFixed(1), '>= 10', verdict(ac, 10, true)],
          ["a/b, median of the rounds' own ratios", pairedRatio(runs.a, runs.b, 'perSecond').toFixed(2), '', ''],
          ...(AGAINST
            ? [
                ['a0/b (the --against checkout / physical limit)', (figures.a0.perSecond / figures.b.perSecond).toFixed(2), '', ''],
                ['server CPU per request, a0/b', (figures.a0.cpuPerRequest / figures.b.cpuPerRequest).toFixed(2), '', ''],
                ['server CPU per request, a/a0', (figures.a.cpuPerRequest / figures.a0.cpuPerRequest).toFixed(2), '', ''],
                ["the same, median of the rounds' own ratios", pairedRatio(runs.a, runs.a0, 'cpuPerRequest').toFixed(2), '', ''],
              ]
            : []),
        ],
      ),
    );
    console.log('');
    if (PROFILE_DIR) printBreakdowns(PROFILE_DIR, ['against-info', 'silo-info', 'silo-warn', 'bare']);
    if (ONLY_ABC) return;

    // (d): many companies, few pools.
    console.log(`  [${elapsed()}] provisioning ${COMPANIES} companies...`);
    const provisionStarted = performance.now();
    const many: Awaited<ReturnType<typeof companyWithToken>>[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < COMPANIES) {
          const i = next++;
          many.push(await companyWithToken(ctx, `load-${String(i).padStart(4, '0')}`));
          if (many.length % 100 === 0) console.log(`    ${many.length} companies`);
        }
      }),
    );
    const provisionSeconds = (performance.now() - provisionStarted) / 1000;
    // The parent's own pools (from setup) are not part of the measurement.
    await ctx.tenants.close();

    const targets = many.map((m) => ({ path: `/api/users/${m.adminId}`, headers: { authorization: `Bearer ${m.token}` } }));
    // Silo as it starts (heap growth fixed, src/base/heap-growth.ts), then the same server code
    // with V8's default heap growth: the baseline of the memory figures, in the same run.
    const dRuns: DRun[] = [];
    for (const [label, v8Default] of [
      ['Silo', false],
      ["V8's default heap growth (baseline)", true],
    ] as const) {
      console.log(`  [${elapsed()}] (d) ${label}`);
      dRuns.push(await runD(label, { ...sharedEnv, ...(v8Default ? { BENCH_V8_HEAP_GROWTH: '1' } : {}) }, targets, children));
    }
    const [d, baseline] = dRuns as [DRun, DRun];
    console.log(`  [${elapsed()}] (d) done`);
    console.log('');
    console.log(
      `(d) ${COMPANIES} companies at random (GET /api/users/:id), maxPools ${D_MAX_POOLS}, budget ${D_BUDGET} per server, ` +
        `${D_CONNECTIONS} connections, ${D_SECONDS} s each (provisioning took ${provisionSeconds.toFixed(0)} s)`,
    );
    const dFigure = (r: DRun) => [
      r.load.perSecond.toFixed(0),
      `${ms(r.load.p50)} / ${ms(r.load.p99)}`,
      r.cpuPerRequest.toFixed(0),
      `${(r.coldShare * 100).toFixed(1)}%`,
      String(failures(r.load)),
      mb(r.rssMax),
      mb(median(r.memory.map((m) => m.rss))),
      mb(Math.max(...r.memory.map((m) => m.heapTotal))),
      mb(Math.max(...r.memory.map((m) => m.heapUsed))),
      String(r.evictions),
    ];
    const dHeaders = [
      'req/s',
      'p50 / p99 ms',
      'CPU µs/req',
      'cold opens',
      'errors',
      'RSS max MB',
      'RSS median MB',
      'heap max MB',
      'heap used max MB',
      'evictions',
    ];
    console.log(
      formatTable(
        ['server', ...dHeaders],
        [
          [d.label, ...dFigure(d)],
          [baseline.label, ...dFigure(baseline)],
        ],
      ),
    );
    if (PROFILE_DIR) printBreakdowns(PROFILE_DIR, ['silo-d']);
    console.log(
      `(d) RSS max ${mb(d.rssMax)} MB, target < 300: ${verdict(d.rssMax / 2 ** 20, 300, false)} ` +
        `(baseline ${mb(baseline.rssMax)} MB); errors ${failures(d.load)}, target 0: ${failures(d.load) === 0 ? 'met' : 'MISSED'}`,
    );
    for (const r of dRuns) {
      if (failures(r.load) > 0) {
        console.log(
          `(d) ${r.label} statuses: ${JSON.stringify(r.load.statuses)}, connection errors ${r.load.errors}, timeouts ${r.load.timeouts}`,
        );
      }
    }
  } finally {
    for (const child of children) await child.stop().catch(() => {});
    // An embedded server goes away with its directory; on a given server, drop what the run made.
    await (pg.embedded ? bench?.silo.close() : bench?.close())?.catch((error: Error) => console.error(`cleanup: ${error.message}`));
    await pg.stop();
    console.log(`\ndone in ${elapsed()}`);
  }
}

runBench(main);
