// Shared pieces for benchmarks: a throwaway PostgreSQL (embedded, or BENCH_DATABASE_URL), a throwaway
// Silo on it under a unique name prefix, cleanup that drops everything the run created, command-line
// options, statistics and plain-text tables. Benchmarks print numbers; they assert nothing.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { type OpenOptions, openSilo, type Silo } from '../src/bootstrap.ts';
import { loadConfig } from '../src/base/config/config.ts';
import { postmasterPid, startEmbeddedPostgres } from '../src/base/embedded/embedded-postgres.ts';
import { createLogger } from '../src/base/logger.ts';

export const silentLog = createLogger('silent');

/** `url` with its database replaced. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

export interface BenchServer {
  /** An admin login (one that may create databases and roles) on some database of the server. */
  url: string;
  embedded: boolean;
  /** The embedded server's postmaster, whose CPU cpuSnapshot() reads; none for BENCH_DATABASE_URL. */
  postmasterPid?: number;
  stop(): Promise<void>;
}

/**
 * BENCH_DATABASE_URL when set (left running), otherwise an embedded PostgreSQL on a free port in a
 * temporary directory, stopped and removed by stop(). Should the process exit without stop(), the
 * server is told to shut down (src/base/embedded) and the directory is removed; Ctrl-C reaches the
 * server too, as it shares the terminal's process group.
 */
export async function startBenchServer(): Promise<BenchServer> {
  const given = process.env.BENCH_DATABASE_URL;
  if (given) return { url: given, embedded: false, stop: async () => {} };
  const dir = mkdtempSync(join(os.tmpdir(), 'silo-bench-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  let server: Awaited<ReturnType<typeof startEmbeddedPostgres>>;
  try {
    server = await startEmbeddedPostgres(dir);
  } catch (error) {
    removeDir();
    throw error;
  }
  const stopServer = server.stop;
  return {
    url: server.url,
    embedded: true,
    postmasterPid: postmasterPid(server.clusterDir),
    async stop() {
      try {
        await stopServer();
      } finally {
        removeDir();
      }
    },
  };
}

/** A second server: BENCH_TARGET_URL, else another embedded PostgreSQL, removed by stop(). */
export async function startSecondBenchServer(): Promise<BenchServer> {
  const given = process.env.BENCH_TARGET_URL;
  if (given) return { url: given, embedded: false, stop: async () => {} };
  const dir = mkdtempSync(join(os.tmpdir(), 'silo-bench-target-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const server = await startEmbeddedPostgres(dir);
  return { url: server.url, embedded: true, stop: () => server.stop().finally(() => rmSync(dir, { recursive: true, force: true })) };
}

export interface BenchSilo {
  silo: Silo;
  /** Every database and role of this Silo starts with `${prefix}_`. */
  prefix: string;
  /** The environment its config was loaded from, to derive variants with loadConfig. */
  env: Record<string, string>;
  /** Closes the Silo and drops every database and role whose name starts with `${prefix}_`. */
  close(): Promise<void>;
}

/** Drops every database (forcing sessions out) and then every role named `${prefix}_...`. */
async function dropByPrefix(serverUrl: string, prefix: string): Promise<void> {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  const like = `${prefix}\\_%`;
  try {
    const databases = await admin<{ datname: string }[]>`select datname from pg_database where datname like ${like}`;
    for (const { datname } of databases) await admin`drop database if exists ${admin(datname)} with (force)`;
    const roles = await admin<{ rolname: string }[]>`select rolname from pg_roles where rolname like ${like}`;
    for (const { rolname } of roles) await admin`drop role if exists ${admin(rolname)}`;
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/**
 * A Silo with its own management database on `serverUrl`, a unique prefix and the templates
 * prepared, as the server starts one. `env` adds to (or overrides) the configuration; `open` to the
 * options of openSilo (a tenant migrations folder of the run's own, for example).
 */
export async function openBenchSilo(serverUrl: string, env: Record<string, string> = {}, open: OpenOptions = {}): Promise<BenchSilo> {
  const prefix = `bench${[...randomBytes(6)].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('')}`;
  const managementDb = `${prefix}_management`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    await admin`create database ${admin(managementDb)}`;
  } finally {
    await admin.end({ timeout: 5 });
  }
  const fullEnv = {
    DATABASE_URL: withDatabase(serverUrl, managementDb),
    // Given, so that nothing is written to a data dir.
    SILO_JWT_SECRET: randomBytes(32).toString('hex'),
    SILO_MASTER_KEY: randomBytes(32).toString('hex'),
    SILO_DATA_DIR: join(os.tmpdir(), `${prefix}-unused`),
    SILO_DB_PREFIX: prefix,
    SILO_LOG_LEVEL: 'silent',
    ...env,
  };
  let silo: Silo;
  try {
    silo = await openSilo(loadConfig(fullEnv), { prepareTemplates: true, log: silentLog, ...open });
  } catch (error) {
    await dropByPrefix(serverUrl, prefix).catch(() => {});
    throw error;
  }
  return {
    silo,
    prefix,
    env: fullEnv,
    async close() {
      try {
        await silo.close();
      } finally {
        await dropByPrefix(serverUrl, prefix);
      }
    },
  };
}

/** `--flag value` or `--flag=value` on the command line, else the environment variable. */
export function option(flag: string, envName: string): string | undefined {
  const args = process.argv.slice(2);
  const at = args.findIndex((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));
  const raw = at < 0 ? process.env[envName] : args[at]!.includes('=') ? args[at]!.slice(flag.length + 3) : args[at + 1];
  return raw === '' ? undefined : raw;
}

/** A positive whole number from option(), else the fallback. */
export function intOption(flag: string, envName: string, fallback: number): number {
  const raw = option(flag, envName);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${flag} / ${envName} must be a positive whole number`);
  return value;
}

/** The p-th percentile (0..100) with linear interpolation between closest ranks (R-7, Excel's PERCENTILE.INC). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

export const median = (values: readonly number[]) => percentile(values, 50);

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  mean: number;
}

export function summarize(values: readonly number[]): Summary {
  const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
  return { n: values.length, p50: percentile(values, 50), p95: percentile(values, 95), mean };
}

export const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : '-');

/** A table with `|` between columns; the first column is left-aligned, the others right-aligned. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

/** The machine the numbers come from. */
export function machineInfo(): string {
  const cpus = os.cpus();
  const gib = (os.totalmem() / 2 ** 30).toFixed(1);
  return `${os.platform()} ${os.release()} ${os.arch()}, ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? 'unknown'}), ${gib} GiB RAM, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}, node ${process.version}`;
}

/** The server's version and the settings that decide what a durable write costs. */
export async function serverInfo(sql: postgres.Sql): Promise<string> {
  const [row] = await sql<{ version: string; fsync: string; sync: string; fpw: string; buffers: string }[]>`
    select version() as version, current_setting('fsync') as fsync, current_setting('synchronous_commit') as sync,
           current_setting('full_page_writes') as fpw, current_setting('shared_buffers') as buffers`;
  if (!row) return 'unknown';
  return `${row.version}; fsync=${row.fsync}, synchronous_commit=${row.sync}, full_page_writes=${row.fpw}, shared_buffers=${row.buffers}`;
}

/** Runs `attempt(i)` for i < count, `concurrency` at a time; answers µs per attempt (wall clock / count). */
export async function timed(count: number, concurrency: number, attempt: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await attempt(next++);
    }),
  );
  return ((performance.now() - started) * 1000) / count;
}

/** CPU time so far: this process's, the embedded server's (postmaster, live children and reaped ones), the machine's. */
export interface CpuSnapshot {
  nodeMs: number;
  postgresMs: number;
  machineBusyTicks: number;
  machineTotalTicks: number;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

function procStat(pid: number): number[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state, ppid, ..., utime (index 11), stime, cutime, cstime.
    return text
      .slice(text.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
  } catch {
    return undefined;
  }
}

export function cpuSnapshot(postmasterPid: number | undefined): CpuSnapshot {
  const usage = process.cpuUsage();
  let postgresTicks = Number.NaN;
  if (postmasterPid !== undefined) {
    const own = procStat(postmasterPid);
    postgresTicks = own ? own[11]! + own[12]! + own[13]! + own[14]! : Number.NaN;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === postmasterPid) continue;
      const fields = procStat(Number(entry));
      if (fields?.[1] === postmasterPid) postgresTicks += fields[11]! + fields[12]!;
    }
  }
  const machine = machineTicks();
  return {
    nodeMs: (usage.user + usage.system) / 1000,
    postgresMs: postgresTicks * TICK_MS,
    machineBusyTicks: machine.busy,
    machineTotalTicks: machine.total,
  };
}

/** The machine's CPU ticks so far, all cores (Linux /proc/stat): busy ones and all of them. */
export function machineTicks(): { busy: number; total: number } {
  const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: total - ticks[3]! - ticks[4]!, total };
}

/** The share of the machine's CPU time that was busy between two machineTicks(), whoever used it. */
export const busyShare = (before: { busy: number; total: number }, after: { busy: number; total: number }) =>
  (after.busy - before.busy) / (after.total - before.total);

/**
 * Runs a bench's `main` and exits with its status once it is done: a handle left open (a closed
 * Silo's, the loader's) must not keep a finished bench alive after its table.
 */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
