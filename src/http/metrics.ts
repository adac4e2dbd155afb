// GET /metrics in Prometheus' text format (prom-client): request latencies by route, and the pool
// map's and the warm pool's figures read at scrape time. One registry per app, so tests and several apps in one
// process do not share counters.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { SiloContext } from '../context.ts';
import { warmPoolFigures, type WarmPoolFigures } from '../operations/provisioning/warm-pool.ts';
import type { AppEnv } from './env.ts';
import { requireAuth } from './middleware/auth.ts';
import { RouteLatency } from './route-latency.ts';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Who may scrape /metrics: anyone with SILO_METRICS_OPEN, else the bearer of SILO_METRICS_TOKEN
 * (a scraper needs no user) or of a system admin's token. The figures name routes and the fleet's
 * size and load, which are nobody else's business.
 */
export function metricsAccess(ctx: SiloContext): MiddlewareHandler<AppEnv> {
  const { open, token } = ctx.config.metrics;
  const expected = token === undefined ? undefined : digest(token);
  const systemAdmin = requireAuth(ctx, ['system_admin']);
  return async (c, next) => {
    if (open) return next();
    const given = /^Bearer\s+(\S+)$/i.exec(c.req.header('Authorization') ?? '')?.[1];
    // Compared as digests of equal length, in constant time.
    if (expected && given && timingSafeEqual(digest(given), expected)) return next();
    return systemAdmin(c, next);
  };
}

export function createMetrics(ctx: SiloContext) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'silo_process_' });

  const requestSeconds = new RouteLatency(
    'silo_http_request_duration_seconds',
    'HTTP request latency by method, route pattern and status',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registry,
  );

  const poolFigures: [string, string, keyof ReturnType<SiloContext['tenants']['pools']['stats']>][] = [
    ['silo_pool_open_pools', 'Tenant pools open in the pool map', 'openPools'],
    ['silo_pool_draining_pools', 'Evicted tenant pools still finishing their queries', 'drainingPools'],
    ['silo_pool_connections_at_most', 'Most connections the open and draining pools may hold', 'connectionsAtMost'],
    ['silo_pool_hits', 'Requests served by an already open pool', 'hits'],
    ['silo_pool_misses', 'Requests that had to open a pool', 'misses'],
    ['silo_pool_evictions', 'Pools closed to make room or because the company changed', 'evictions'],
    ['silo_pool_opens_in_flight', 'Pools being opened right now', 'opensInFlight'],
  ];
  for (const [name, help, field] of poolFigures) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(ctx.tenants.pools.stats()[field]);
      },
    });
  }

  // The warm pool per postgres server, read from the management database at scrape time: one
  // query answers all three gauges, so the first to be collected reads and the others reuse it.
  let figures: Promise<WarmPoolFigures[]> | null = null;
  const warmFigures = () => {
    figures ??= warmPoolFigures(ctx).finally(() => setImmediate(() => (figures = null)));
    return figures;
  };
  const warmGauges: [string, string, 'ready' | 'cloning' | 'stale'][] = [
    ['silo_warm_pool_ready', 'Warm databases ready to be claimed by a sign-up, per server', 'ready'],
    ['silo_warm_pool_cloning', 'Warm databases being cloned, per server', 'cloning'],
    ['silo_warm_pool_stale', 'Warm databases behind the latest tenant schema (never claimed; migrated by the next refill)', 'stale'],
  ];
  for (const [name, help, field] of warmGauges) {
    new Gauge({
      name,
      help,
      labelNames: ['server_id'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const server of await warmFigures()) this.set({ server_id: server.serverId }, server[field]);
      },
    });
  }
  // Read-only SQL runs (the SQL console, fleet queries) by who ran them and how they ended.
  new Gauge({
    name: 'silo_sql_runs',
    help: 'Runs of the read-only SQL executor since start, by source and outcome (ok, refused, unavailable, failed)',
    labelNames: ['source', 'outcome'],
    registers: [registry],
    collect() {
      for (const { source, outcome, runs } of ctx.tenants.sqlRuns.entries()) this.set({ source, outcome }, runs);
    },
  });

  /**
   * Records one answered request that took `seconds` (the caller's clock: the app's one middleware
   * times each request once for this and the access log, rather than prom-client's startTimer()).
   */
  const observe = (c: Context<AppEnv>, seconds: number) => {
    // The route pattern, not the path: ids would make a label per resource. A request that
    // matched only wildcard middleware found no route.
    const route = routePath(c, -1);
    requestSeconds.observe(c.req.method, route.endsWith('*') ? 'unmatched' : route, c.res.status, seconds);
  };

  return { registry, observe };
}
