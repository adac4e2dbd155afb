// Draining a database server: it is marked `draining` (placement skips it), then every company on
// it is moved to where placement would put a new one, a few at a time. Choosing a target and
// claiming it happen one company at a time, so that the room each claim takes is counted by the next
// choice. One failed move never stops the others; the server is empty only when all of them moved.
import { and, asc, count, eq, notInArray } from 'drizzle-orm';
import type { SiloContext } from '../../context.ts';
import { companies, databaseServers } from '../../control-plane/schema.ts';
import { conflict, notFound, SiloError } from '../../base/errors.ts';
import { chooseServer } from '../provisioning/placement.ts';
import { updateServer } from '../../control-plane/server-records.ts';
import { describeMoveFailure, runMove } from './move-company.ts';
import { prepareMove } from './move-prepare.ts';
import { servableCompanies } from '../../control-plane/company-records.ts';

export interface DrainOutcome {
  companyId: string;
  slug: string;
  status: 'moved' | 'failed';
  toServerId: string | null;
  rows: number;
  bytes: number;
  durationMs: number;
  writesHeldMs: number | null;
  error?: string;
  step?: string;
}

export interface DrainProgress {
  done: number;
  failed: number;
  total: number;
}

export interface DrainOptions {
  concurrency: number;
  actor: string;
  /** Stops scheduling more moves when aborted; moves already running finish. */
  signal?: AbortSignal;
  onOutcome?: (outcome: DrainOutcome, progress: DrainProgress) => void;
}

export interface DrainRun {
  serverId: string;
  total: number;
  outcomes: DrainOutcome[];
  notAttempted: string[];
  /** Companies still on the server afterwards (any not deleted or failed). */
  remaining: number;
}

export async function drainServer(ctx: SiloContext, serverId: string, options: DrainOptions): Promise<DrainRun> {
  const [server] = await ctx.db
    .select({ provider: databaseServers.provider })
    .from(databaseServers)
    .where(eq(databaseServers.id, serverId));
  if (!server) throw notFound('database server');
  if (server.provider !== 'postgres') {
    throw conflict(`companies on a ${server.provider} server are not moved by Silo; set it draining to stop new companies landing there`);
  }
  await updateServer(ctx, serverId, { status: 'draining' });
  const fleet = await ctx.db
    .select({ id: companies.id, slug: companies.slug })
    .from(companies)
    .where(and(eq(companies.serverId, serverId), servableCompanies()))
    .orderBy(asc(companies.createdAt), asc(companies.id));

  const run: DrainRun = { serverId, total: fleet.length, outcomes: [], notAttempted: [], remaining: 0 };
  let claiming: Promise<unknown> = Promise.resolve();
  let failed = 0;

  const moveOne = async (company: { id: string; slug: string }) => {
    const started = performance.now();
    let outcome: DrainOutcome;
    try {
      const prepare = claiming.then(async () =>
        prepareMove(ctx, company.id, (await chooseServer(ctx, { external: false, provider: 'postgres' })).serverId, options.actor),
      );
      claiming = prepare.catch(() => {});
      const { move } = await runMove(ctx, await prepare, options.actor);
      outcome = {
        companyId: company.id,
        slug: company.slug,
        status: 'moved',
        toServerId: move.toServerId,
        rows: move.rows,
        bytes: move.bytes,
        durationMs: move.durationMs,
        writesHeldMs: move.writesHeldMs,
      };
    } catch (error) {
      const step = error instanceof SiloError ? (error.details as { step?: string } | undefined)?.step : undefined;
      outcome = {
        companyId: company.id,
        slug: company.slug,
        status: 'failed',
        toServerId: null,
        rows: 0,
        bytes: 0,
        durationMs: Math.round(performance.now() - started),
        writesHeldMs: null,
        error: describeMoveFailure(error),
        ...(step ? { step } : {}),
      };
      failed++;
    }
    run.outcomes.push(outcome);
    options.onOutcome?.(outcome, { done: run.outcomes.length, failed, total: fleet.length });
  };

  const queue = [...fleet];
  const workers = Array.from({ length: Math.max(1, Math.min(options.concurrency, queue.length)) }, async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      if (options.signal?.aborted) {
        run.notAttempted.push(next.slug, ...queue.splice(0).map((c) => c.slug));
        return;
      }
      await moveOne(next);
    }
  });
  await Promise.all(workers);

  const [left] = await ctx.db
    .select({ n: count() })
    .from(companies)
    .where(and(eq(companies.serverId, serverId), notInArray(companies.status, ['deleted', 'failed'])));
  run.remaining = left!.n;
  return run;
}
