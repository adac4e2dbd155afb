// How fast a company moves between two database servers, and how long its writes are held: one
// company of at least --mb megabytes of table data (documents with full-text search, chat history,
// users), moved from one PostgreSQL to another and back, by moveCompany as the API and the CLI call
// it. Both servers are embedded ones on this machine unless given.
//
//   npm run bench:move [-- --mb N]            about N MB of COPY text in the company (default 100; or BENCH_MB)
//   ... -- --runs N                           moves, alternating direction (default 2; or BENCH_RUNS)
//   BENCH_DATABASE_URL=postgres://...         the first server (an admin login) instead of an embedded one
//   BENCH_TARGET_URL=postgres://...           the second server likewise
//
// Baseline, measured in the same run before each move and in the same direction: the same tables
// copied by hand as a DBA would without Silo (see copyByHand).
//
// Results and their reading: docs/scale-out.md.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import type { SiloContext } from '../src/context.ts';
import { applyMigrations } from '../src/base/db/migration-runner.ts';
import { tenantNames } from '../src/base/names.ts';
import { provisionCompany } from '../src/operations/provisioning/provision-company.ts';
import { moveCompany, type MoveResult } from '../src/operations/scale-out/move-company.ts';
import { COPY_SESSION, copyTable, readTables, type TableShape } from '../src/operations/scale-out/table-copy.ts';
import { addServer } from '../src/operations/servers.ts';
import { listServers } from '../src/control-plane/server-records.ts';
import { fill } from './company-data.ts';
import {
  formatTable,
  intOption,
  machineInfo,
  median,
  ms,
  openBenchSilo,
  serverInfo,
  startBenchServer,
  startSecondBenchServer,
  withDatabase,
  type BenchServer,
} from './support.ts';

async function databaseSize(ctx: SiloContext, serverId: string, database: string): Promise<number> {
  const admin = await ctx.servers.admin(serverId);
  const [row] = await admin<{ bytes: string }[]>`select pg_database_size(${database})::text as bytes`;
  return Number(row!.bytes);
}

/** The move's steps as it recorded them in company_database_logs, ms. */
async function stepTimes(ctx: SiloContext, companyId: string, since: Date): Promise<Map<string, number>> {
  const rows = await ctx.sql<{ action: string; duration_ms: number | null }[]>`
    select action, duration_ms from company_database_logs
    where company_id = ${companyId} and action like 'move.%' and created_at >= ${since.toISOString()}::timestamptz order by id`;
  return new Map(rows.map((r) => [r.action.replace(/^move\./, ''), r.duration_ms ?? Number.NaN]));
}

/** The psql the baseline pipes with: Debian's client first (no pg_wrapper in between), else one on PATH. */
function findPsql(): string | undefined {
  const debian = '/usr/lib/postgresql/15/bin/psql';
  if (existsSync(debian)) return debian;
  return spawnSync('psql', ['--version']).status === 0 ? 'psql' : undefined;
}

/**
 * libpq's environment for a postgres:// URL: the password never reaches an argument list (which
 * `ps` shows) nor the output. The session pins the settings Silo's copy pins (COPY_SESSION), so
 * both sides print and read values alike, as in the move.
 */
function psqlEnv(url: string): NodeJS.ProcessEnv {
  const u = new URL(url);
  const options = Object.entries(COPY_SESSION).map(([name, value]) => `-c ${name}=${value.replaceAll(' ', '\\ ')}`);
  return {
    ...process.env,
    PGHOST: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    PGPORT: u.port || '5432',
    PGUSER: decodeURIComponent(u.username),
    PGPASSWORD: decodeURIComponent(u.password),
    PGDATABASE: decodeURIComponent(u.pathname.slice(1)),
    ...(u.searchParams.get('sslmode') ? { PGSSLMODE: u.searchParams.get('sslmode')! } : {}),
    PGOPTIONS: options.join(' '),
  };
}

/** `psql -c "copy ... to stdout" | psql -c "copy ... from stdin"`: the two processes share one OS pipe. */
async function psqlPipe(psql: string, fromUrl: string, toUrl: string, table: TableShape): Promise<void> {
  const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;
  const target = `${ident(table.name)} (${table.columns.map(ident).join(', ')})`;
  const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c'];
  const out = spawn(psql, [...args, `copy ${target} to stdout`], { env: psqlEnv(fromUrl), stdio: ['ignore', 'pipe', 'pipe'] });
  const into = spawn(psql, [...args, `copy ${target} from stdin`], { env: psqlEnv(toUrl), stdio: [out.stdout, 'ignore', 'pipe'] });
  // The second psql holds its own copy of the pipe now; this process must not read from it.
  out.stdout.destroy();
  const ended = (child: ChildProcess, side: string) => {
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return once(child, 'close').then(([code]) => {
      if (code !== 0) throw new Error(`psql (${side}) failed on ${table.name}: ${stderr.trim()}`);
    });
  };
  await Promise.all([ended(out, 'COPY TO'), ended(into, 'COPY FROM')]);
}

interface Baseline {
  via: string;
  rows: number;
  /** Creating the database and its schema, and the copy. */
  totalMs: number;
  copyMs: number;
}

/**
 * The baseline: the company's tables copied by hand, as a DBA would without Silo. An empty database
 * on the target server with the tenant schema (the tenant migrations, as the admin), then each
 * table in Silo's order (readTables: parents first) piped COPY TO STDOUT -> COPY FROM STDIN with
 * psql, or postgres.js when there is no psql. Nothing else: no write hold, no lock, no verification,
 * no sequences, no switch, nothing dropped but the scratch database afterwards (untimed).
 */
async function copyByHand(
  ctx: SiloContext,
  fromId: string,
  toId: string,
  database: string,
  scratch: string,
  psql: string | undefined,
): Promise<Baseline> {
  const admin = await ctx.servers.admin(toId);
  // One-connection clients with the move's session settings, as copyTable needs; they connect on first use.
  const session = { connection: COPY_SESSION, idle_timeout: 0 };
  const source = await ctx.servers.open(fromId, database, undefined, session);
  const target = await ctx.servers.open(toId, scratch, undefined, session);
  const started = performance.now();
  try {
    await admin`create database ${admin(scratch)}`;
    await applyMigrations(target, ctx.tenantMigrations);
    const tables = await readTables(source);
    const [fromUrl, toUrl] = [await ctx.servers.urlFor(fromId, database), await ctx.servers.urlFor(toId, scratch)];
    const copyStarted = performance.now();
    for (const table of tables) {
      if (psql) await psqlPipe(psql, fromUrl, toUrl, table);
      else await copyTable(source, target, table);
    }
    const ended = performance.now();
    // Counted after the clock stopped: a baseline that copied nothing must not pass for a fast one.
    let rows = 0;
    for (const table of tables)
      rows += Number((await target<{ n: string }[]>`select count(*)::text as n from ${target(table.name)}`)[0]!.n);
    return { via: psql ? 'psql' : 'postgres.js', rows, totalMs: ended - started, copyMs: ended - copyStarted };
  } finally {
    await Promise.all([source.end({ timeout: 5 }), target.end({ timeout: 5 })]);
    await admin`drop database if exists ${admin(scratch)} with (force)`;
  }
}

async function bench(first: BenchServer, second: BenchServer): Promise<void> {
  const mb = intOption('mb', 'BENCH_MB', 100);
  const runs = intOption('runs', 'BENCH_RUNS', 2);
  const benchSilo = await openBenchSilo(first.url);
  try {
    const ctx = benchSilo.silo.ctx;
    const added = await addServer(ctx, { name: 'second', url: withDatabase(second.url, 'postgres') });
    const servers = await listServers(ctx);
    const firstId = servers.find((s) => s.name === 'default')!.id;

    console.log('Silo move benchmark');
    console.log(
      `  postgres:   ${await serverInfo(ctx.sql)} (${first.embedded ? 'embedded' : 'BENCH_DATABASE_URL'}; second: ${second.embedded ? 'embedded' : 'BENCH_TARGET_URL'})`,
    );
    console.log(`  machine:    ${machineInfo()}`);

    const { company } = await provisionCompany(
      ctx,
      {
        name: 'Bench Mover',
        slug: 'bench-mover',
        admin: { email: 'admin@bench.example', password: 'bench-password-1' },
        serverId: firstId,
      },
      'bench',
    );
    const database = tenantNames(ctx.config.dbPrefix, company).database;
    const filling = performance.now();
    await fill(ctx, firstId, database, mb);
    const size = await databaseSize(ctx, firstId, database);
    console.log(
      `  company:    ${database}, ${(size / 1e6).toFixed(0)} MB on disk (pg_database_size), filled in ${((performance.now() - filling) / 1000).toFixed(0)} s\n`,
    );

    const psql = findPsql();
    const psqlVersion = psql ? spawnSync(psql, ['--version'], { encoding: 'utf8' }).stdout.trim() : undefined;
    console.log(
      `  baseline:   ${psqlVersion ? `${psqlVersion}, two processes piped per table` : "postgres.js COPY streams (Silo's copyTable; no psql found)"}\n`,
    );

    const results: { from: string; to: string; move: MoveResult; steps: Map<string, number>; baseline: Baseline }[] = [];
    for (let run = 0; run < runs; run++) {
      const [from, to] = run % 2 === 0 ? ['first', 'second'] : ['second', 'first'];
      const [fromId, toId] = run % 2 === 0 ? [firstId, added.id] : [added.id, firstId];
      // Just before the move and in its direction, so both meet the same servers and load.
      const baseline = await copyByHand(ctx, fromId, toId, database, `${benchSilo.prefix}_baseline`, psql);
      const since = new Date();
      const { move } = await moveCompany(ctx, company.id, toId, 'bench');
      results.push({ from, to, move, steps: await stepTimes(ctx, company.id, since), baseline });
      process.stderr.write(`  move ${run + 1}/${runs} done\n`);
    }

    const rate = (amount: number, millis: number) => (amount / (millis / 1000)).toFixed(0);
    const mbps = (bytes: number, millis: number) => (bytes / 1e6 / (millis / 1000)).toFixed(1);
    console.log('Moves (rows and MB: every table; MB is COPY text, 10^6 bytes)');
    console.log(
      formatTable(
        ['move', 'rows', 'MB', 'total s', 'copy s', 'rows/s (copy)', 'MB/s (copy)', 'MB/s (total)', 'writes held s'],
        results.flatMap(({ from, to, move, baseline }) => [
          [
            `${from} -> ${to}`,
            String(move.rows),
            (move.bytes / 1e6).toFixed(1),
            (move.durationMs / 1000).toFixed(1),
            (move.copyMs / 1000).toFixed(1),
            rate(move.rows, move.copyMs),
            mbps(move.bytes, move.copyMs),
            mbps(move.bytes, move.durationMs),
            (move.writesHeldMs / 1000).toFixed(1),
          ],
          // The same COPY text as the move's (same rows, same session settings): its MB stand for the baseline's.
          [
            `  baseline (${baseline.via})`,
            String(baseline.rows),
            (move.bytes / 1e6).toFixed(1),
            (baseline.totalMs / 1000).toFixed(1),
            (baseline.copyMs / 1000).toFixed(1),
            rate(baseline.rows, baseline.copyMs),
            mbps(move.bytes, baseline.copyMs),
            mbps(move.bytes, baseline.totalMs),
            '-',
          ],
        ]),
      ),
    );
    console.log(
      "Baseline: the same tables by hand, without Silo, just before each move and in its direction: a new database, the tenant migrations, then per table in Silo's order COPY TO STDOUT | COPY FROM STDIN; nothing else (no hold, lock, verification, sequences, switch or drop); total = create + schema + copy.",
    );
    for (const { baseline, move } of results) {
      if (baseline.rows !== move.rows) console.log(`  NOTE: the baseline copied ${baseline.rows} rows, the move ${move.rows}`);
    }
    const ratios = results.map(({ move, baseline }) => [move.durationMs / baseline.totalMs, move.copyMs / baseline.copyMs] as const);
    console.log('\nSilo move / baseline (time; above 1: Silo takes longer)');
    console.log(
      formatTable(
        ['move', 'total', 'copy'],
        [
          ...results.map((r, i) => [`${r.from} -> ${r.to}`, `${ratios[i]![0].toFixed(2)}x`, `${ratios[i]![1].toFixed(2)}x`]),
          ['median', `${median(ratios.map((r) => r[0])).toFixed(2)}x`, `${median(ratios.map((r) => r[1])).toFixed(2)}x`],
        ],
      ),
    );
    const stepNames = ['role', 'database', 'revoke', 'ownership', 'migrate', 'hold', 'lock', 'copy', 'verify', 'switch'];
    console.log('\nSteps, ms (company_database_logs)');
    console.log(
      formatTable(
        ['step', ...results.map((r) => `${r.from} -> ${r.to}`)],
        stepNames
          .filter((s) => results.some((r) => r.steps.has(s)))
          .map((s) => [s, ...results.map((r) => ms(r.steps.get(s) ?? Number.NaN))]),
      ),
    );
    console.log('\nRows per table (first move)');
    console.log(
      formatTable(
        ['table', 'rows', 'MB'],
        results[0]!.move.tables.map((t) => [t.name, String(t.rows), (t.bytes / 1e6).toFixed(1)]),
      ),
    );
  } finally {
    await dropByPrefixOnSecond(benchSilo.silo.ctx, benchSilo.prefix).catch((error: unknown) =>
      console.error('could not clean the second server:', error),
    );
    await benchSilo.close();
  }
}

/** What this run made on the second server (closing the Silo cleans the first one). */
async function dropByPrefixOnSecond(ctx: SiloContext, prefix: string): Promise<void> {
  const second = (await listServers(ctx)).find((s) => s.name === 'second');
  if (!second) return;
  const admin = await ctx.servers.admin(second.id);
  const like = `${prefix}\\_%`;
  for (const { datname } of await admin<{ datname: string }[]>`select datname from pg_database where datname like ${like}`) {
    await admin`drop database if exists ${admin(datname)} with (force)`;
  }
  for (const { rolname } of await admin<{ rolname: string }[]>`select rolname from pg_roles where rolname like ${like}`) {
    await admin`drop role if exists ${admin(rolname)}`;
  }
}

const first = await startBenchServer();
let failed = false;
let second: BenchServer | undefined;
try {
  second = await startSecondBenchServer();
  await bench(first, second);
} catch (error) {
  failed = true;
  console.error('benchmark failed:', error);
} finally {
  for (const server of [second, first]) {
    await server?.stop().catch((error: unknown) => {
      failed = true;
      console.error('could not stop a PostgreSQL server:', error);
    });
  }
}
// Explicitly, with the run's status: an open handle must not keep a finished bench alive.
process.exit(failed ? 1 : 0);
