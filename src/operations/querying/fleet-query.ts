// The fleet fan-out query: one read-only statement run on many companies' databases, each as its
// own role under its own timeout, through the pool map. At most `concurrency` run at once, and at
// most as many per database server as the pool map lets that server hold pools, so a fan-out over
// thousands of companies never takes more of a server than ordinary traffic could. One company's
// error, timeout or unreachable server is that company's line; the others go on. Lines come out
// as companies finish (NDJSON over HTTP, a progress bar in the CLI), then a summary line.
import { and, asc, ne } from 'drizzle-orm';
import { invalid, SiloError } from '../../base/errors.ts';
import type { SiloContext } from '../../context.ts';
import { companies, type CompanyRow } from '../../control-plane/schema.ts';
import { budgetKeyOf, hasDatabase } from '../../data-plane/company-database.ts';
import { SqlRefused } from '../../data-plane/read-only-sql.ts';
import { limitsFor, runCompanySql } from './company-sql.ts';

export interface FleetQueryInput {
  sql: string;
  params?: unknown[] | undefined;
  /** Companies by id or slug; unset: all. */
  only?: string[] | undefined;
  exclude?: string[] | undefined;
  concurrency?: number | undefined;
  timeoutMs?: number | undefined;
  maxRows?: number | undefined;
}

type CompanyRef = { id: string; slug: string };

export type FleetLine =
  | {
      company: CompanyRef;
      ok: true;
      columns: { name: string; type: string }[];
      rows: unknown[][];
      rowCount: number;
      truncated: boolean;
      ms: number;
    }
  | { company: CompanyRef; ok: false; error: { code: string; message: string; sqlState?: string }; ms: number }
  | { company: CompanyRef; ok: false; skipped: true; error: { code: 'skipped'; message: string } }
  | { summary: { companies: number; succeeded: number; failed: number; skipped: number; ms: number } };

export const DEFAULT_FLEET_CONCURRENCY = 8;

const ref = (company: CompanyRow): CompanyRef => ({ id: company.id, slug: company.slug });

/** Why a company is not queried now, or null when it is. */
function skipReason(company: CompanyRow): string | null {
  if (company.status !== 'active') return `the company is ${company.status}`;
  if (company.movingTo && company.moveLeaseUntil && company.moveLeaseUntil.getTime() > Date.now())
    return 'the company is being moved or restored';
  if (!hasDatabase(company)) return 'the company has no database';
  return null;
}

/** The companies asked for, live ones only; every name in `only` and `exclude` must be one. */
async function selectCompanies(ctx: SiloContext, input: FleetQueryInput): Promise<CompanyRow[]> {
  const rows = await ctx.db
    .select()
    .from(companies)
    .where(and(ne(companies.status, 'deleted'), ne(companies.status, 'failed')))
    .orderBy(asc(companies.createdAt), asc(companies.id));
  const known = (name: string) => rows.some((c) => c.id === name || c.slug === name);
  const unknown = [...(input.only ?? []), ...(input.exclude ?? [])].filter((name) => !known(name));
  if (unknown.length > 0)
    throw invalid(
      `no such companies: ${unknown.join(', ')}`,
      unknown.map((name) => ({ path: 'only/exclude', message: `no company ${name}` })),
    );
  const named = (names: string[] | undefined, c: CompanyRow) => (names ?? []).some((n) => n === c.id || n === c.slug);
  return rows.filter((c) => (input.only?.length ? named(input.only, c) : true) && !named(input.exclude, c));
}

/** A failed company's line: the database's message for an SQL error, a fixed sentence otherwise. */
function failure(error: unknown): { code: string; message: string; sqlState?: string } {
  if (error instanceof SqlRefused) return { code: error.code, message: error.message, sqlState: error.sqlState };
  if (error instanceof SiloError) return { code: error.code, message: error.message };
  return { code: 'internal', message: 'the query could not be run on this company' };
}

/**
 * Runs the query over the selected companies; yields skipped companies first, then each company's
 * line as it finishes, then the summary. Checks the selection before yielding anything (400).
 */
export async function fleetQuery(
  ctx: SiloContext,
  input: FleetQueryInput,
): Promise<{ companies: number; lines: AsyncGenerator<FleetLine> }> {
  const selected = await selectCompanies(ctx, input);
  return { companies: selected.length, lines: runFleetQuery(ctx, input, selected) };
}

async function* runFleetQuery(ctx: SiloContext, input: FleetQueryInput, selected: CompanyRow[]): AsyncGenerator<FleetLine> {
  const started = performance.now();
  const limits = limitsFor(ctx, input);
  const concurrency = input.concurrency ?? DEFAULT_FLEET_CONCURRENCY;
  const perServer = Math.max(1, Math.min(concurrency, ctx.tenants.pools.poolsPerServer));
  const counts = { succeeded: 0, failed: 0, skipped: 0 };

  const queue: CompanyRow[] = [];
  for (const company of selected) {
    const reason = skipReason(company);
    if (reason === null) {
      queue.push(company);
      continue;
    }
    counts.skipped++;
    yield { company: ref(company), ok: false, skipped: true, error: { code: 'skipped', message: reason } };
  }

  const finished: FleetLine[] = [];
  let wake: (() => void) | undefined;
  const runningPerServer = new Map<string, number>();
  let running = 0;

  const runOne = async (company: CompanyRow) => {
    const companyStarted = performance.now();
    try {
      // A company whose pool is open is queried through it; any other on a connection of its own
      // for this run, so a fan-out over more companies than the pool map holds neither opens a
      // pool per company nor evicts the pools of the companies being served meanwhile.
      const via = ctx.tenants.pools.isOpen(company.id) || company.provider === 'neon' ? 'pool' : 'own connection';
      const result = await runCompanySql(ctx, company, 'fleet', input.sql, input.params ?? [], limits, via);
      counts.succeeded++;
      // The company's whole time, its pool's opening included, as the error lines' is.
      finished.push({ company: ref(company), ok: true, ...result, ms: Math.round((performance.now() - companyStarted) * 10) / 10 });
    } catch (error) {
      counts.failed++;
      finished.push({ company: ref(company), ok: false, error: failure(error), ms: Math.round(performance.now() - companyStarted) });
    }
  };

  const schedule = () => {
    while (running < concurrency && queue.length > 0) {
      const index = queue.findIndex((c) => (runningPerServer.get(budgetKeyOf(c)) ?? 0) < perServer);
      if (index === -1) return;
      const [company] = queue.splice(index, 1) as [CompanyRow];
      const key = budgetKeyOf(company);
      runningPerServer.set(key, (runningPerServer.get(key) ?? 0) + 1);
      running++;
      void runOne(company).finally(() => {
        runningPerServer.set(key, (runningPerServer.get(key) ?? 1) - 1);
        running--;
        schedule();
        wake?.();
      });
    }
  };

  schedule();
  while (running > 0 || finished.length > 0) {
    if (finished.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
    while (finished.length > 0) yield finished.shift()!;
  }
  yield { summary: { companies: selected.length, ...counts, ms: Math.round(performance.now() - started) } };
}
