// The data plane under load, against real PostgreSQL: the pool map's bounds (open pools and the
// per-server connection budget, counted as real backends in pg_stat_activity), single-flight opens,
// eviction that lets queries finish, an unreachable tenant server (a second embedded PostgreSQL,
// stopped and started again), graceful shutdown, login rate limits and timing, and /metrics.
import { sql } from 'drizzle-orm';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startEmbeddedPostgres, type EmbeddedServer } from '../src/base/embedded/embedded-postgres.ts';
import { tenantNamePattern } from '../src/base/names.ts';
import { PoolMap, type TenantDb, type TenantTarget } from '../src/data-plane/pool-map.ts';
import { tenantPoolOpener } from '../src/data-plane/tenant-db.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';
import { sealedAt } from '../src/base/crypto/credentials.ts';
import type { CompanyRow } from '../src/control-plane/schema.ts';

const MAX_POOLS = 5;
const PER_COMPANY = 3;
const BUDGET = 15;
const COMPANIES = 50;

interface Tenant {
  slug: string;
  id: string;
  adminId: string;
  token: string;
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at once. */
async function pooled<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

/** Creates a company through the API and logs its first admin in. */
async function createTenant(t: TestSilo, slug: string, extra: Record<string, unknown> = {}): Promise<Tenant> {
  const created = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: slug, slug, admin: { email: `boss@${slug}.test`, password: 'boss-password' }, ...extra },
  });
  expect(created.status, created.text).toBe(201);
  const login = await t.call('POST', '/api/auth/login', {
    token: null,
    body: { email: `boss@${slug}.test`, password: 'boss-password', company: slug },
  });
  expect(login.status, login.text).toBe(200);
  return { slug, id: created.body.id, adminId: created.body.admin.id, token: login.body.token };
}

/** Backends on the test server logged in as this Silo's tenant roles (or one role). */
async function tenantBackends(t: TestSilo, role?: string): Promise<number> {
  const pattern = tenantNamePattern(t.config.dbPrefix);
  const [row] = role
    ? await t.admin<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where usename = ${role}`
    : await t.admin<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity where usename like ${pattern.like} and usename not like ${pattern.notLike}`;
  return row!.n;
}

/** Samples tenantBackends every ~20 ms until stop() is called; stop() answers the largest count seen. */
function watchBackends(t: TestSilo, role?: string): { stop(): Promise<{ max: number; samples: number }> } {
  let running = true;
  let max = 0;
  let samples = 0;
  const loop = (async () => {
    while (running) {
      max = Math.max(max, await tenantBackends(t, role));
      samples++;
      await sleep(20);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { max, samples };
    },
  };
}

/** Waits until no evicted pool is still ending, so a company's next request is a cold open. */
async function settle(t: TestSilo): Promise<void> {
  for (let i = 0; i < 200 && t.ctx.tenants.pools.stats().drainingPools > 0; i++) await sleep(25);
}

async function companyRow(t: TestSilo, id: string): Promise<CompanyRow> {
  const row = await t.ctx.tenants.company(id);
  if (!row) throw new Error(`no company ${id}`);
  return row;
}

describe('the pool map, bounded to 5 pools of 3 connections and a budget of 15', () => {
  let t: TestSilo;
  const tenants: Tenant[] = [];

  beforeAll(async () => {
    t = await createTestSilo({
      env: {
        SILO_POOL_MAX_POOLS: String(MAX_POOLS),
        SILO_POOL_PER_COMPANY: String(PER_COMPANY),
        SILO_POOL_SERVER_BUDGET: String(BUDGET),
        SILO_TENANT_CONNECT_TIMEOUT: '2',
        SILO_LOG_LEVEL: 'warn',
      },
    });
    tenants.push(...(await pooled(COMPANIES, 4, (i) => createTenant(t, `pool-${i}`))));
  }, 300_000); // 50 companies through the API: a minute or more on a busy 2-core machine
  afterAll(async () => {
    await t?.close();
  });

  it('never holds more tenant backends than the budget while 50 companies are served at random', async () => {
    const watch = watchBackends(t);
    const paths = ['/api/users', '/api/health/tenant'];
    const results = await pooled(600, 40, async () => {
      const tenant = tenants[Math.floor(Math.random() * tenants.length)]!;
      const path = paths[Math.floor(Math.random() * paths.length)]!;
      const res = await t.call('GET', path, { token: tenant.token });
      return { status: res.status, text: res.text };
    });
    const { max, samples } = await watch.stop();

    expect(samples).toBeGreaterThan(5);
    expect(max).toBeGreaterThan(0);
    expect(max, `at most ${max} tenant backends at once`).toBeLessThanOrEqual(BUDGET);
    // A failure's cause, as the error handler logged it (CONNECTION_ENDED: the pool was ended under it).
    const failed = results.filter((r) => r.status !== 200);
    const tally = new Map<string, number>();
    for (const line of t.logs.filter((l) => l.includes('database unreachable'))) {
      const code = String(JSON.parse(line).code);
      tally.set(code, (tally.get(code) ?? 0) + 1);
    }
    const causes = [...tally].map(([code, n]) => `${code}: ${n}`).join(', ');
    expect(failed.slice(0, 3), `${failed.length} of ${results.length} requests failed (${causes})`).toEqual([]);
    const stats = t.ctx.tenants.pools.stats();
    expect(stats.openPools).toBeLessThanOrEqual(MAX_POOLS);
    expect(stats.evictions).toBeGreaterThan(0);
  });

  it('opens exactly one pool for 100 concurrent first requests to a cold company', async () => {
    const tenant = tenants[7]!;
    const company = await companyRow(t, tenant.id);
    t.ctx.tenants.pools.evict(tenant.id);
    await settle(t);
    const before = t.ctx.tenants.pools.stats();

    const watch = watchBackends(t, company.roleName!);
    const results = await Promise.all(Array.from({ length: 100 }, () => t.call('GET', '/api/users', { token: tenant.token })));
    const { max } = await watch.stop();

    expect(results.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    const after = t.ctx.tenants.pools.stats();
    expect(after.misses - before.misses).toBe(1);
    expect(after.hits - before.hits).toBe(99);
    expect(max).toBeLessThanOrEqual(PER_COMPANY);
    expect(await tenantBackends(t, company.roleName!)).toBeLessThanOrEqual(PER_COMPANY);
  });

  // maxPools (5) and the budget (15 / 3 = 5 pools on the server) bind at once here: the pool
  // evicted for maxPools is still ending, and must not count as a reason to evict a second one.
  it('evicts one pool, not two, to open one more', async () => {
    const warm = tenants.slice(40, 40 + MAX_POOLS);
    for (const tenant of warm) expect((await t.call('GET', '/api/users', { token: tenant.token })).status).toBe(200);
    await settle(t);
    const before = t.ctx.tenants.pools.stats();
    expect(before.openPools).toBe(MAX_POOLS);
    expect((await t.call('GET', '/api/users', { token: tenants[45]!.token })).status).toBe(200);
    const after = t.ctx.tenants.pools.stats();
    expect(after.evictions - before.evictions).toBe(1);
    expect(after.openPools).toBe(MAX_POOLS);
  });

  describe('eviction lets in-flight queries finish', () => {
    it('when the company is suspended', async () => {
      const tenant = tenants[11]!;
      const company = await companyRow(t, tenant.id);
      const slow = t.ctx.tenants.run(company, (db) => db.execute<{ slept: string }>(sql`select pg_sleep(1)::text as slept`));
      await sleep(150); // the query is on the server
      const suspended = await t.call('PATCH', `/api/companies/${tenant.slug}`, { token: t.adminToken, body: { status: 'suspended' } });
      expect(suspended.status).toBe(200);
      expect((await t.call('GET', '/api/users', { token: tenant.token })).status).toBe(403);
      await expect(slow).resolves.toHaveLength(1);
      expect((await t.call('PATCH', `/api/companies/${tenant.slug}`, { token: t.adminToken, body: { status: 'active' } })).status).toBe(
        200,
      );
      expect((await t.call('GET', '/api/users', { token: tenant.token })).status).toBe(200);
    });

    it('when more companies than maxPools push it out', async () => {
      const [held, ...others] = tenants.slice(20, 20 + MAX_POOLS + 2);
      const company = await companyRow(t, held!.id);
      const evictionsBefore = t.ctx.tenants.pools.stats().evictions;
      const slow = t.ctx.tenants.run(company, (db) => db.execute(sql`select pg_sleep(1)`));
      await sleep(150);
      for (const other of others) expect((await t.call('GET', '/api/health/tenant', { token: other.token })).status).toBe(200);
      expect(t.ctx.tenants.pools.stats().evictions - evictionsBefore).toBeGreaterThanOrEqual(MAX_POOLS);
      await expect(slow).resolves.toHaveLength(1);
    });

    // A request holds its pool for its whole handler, not only while a query runs: the users
    // route hashes a password before its transaction, the login checks one between two queries.
    it('when the pool is evicted between two queries of one piece of work', async () => {
      const tenant = tenants[30]!;
      const company = await companyRow(t, tenant.id);
      let entered!: () => void;
      let release!: () => void;
      const inside = new Promise<void>((resolve) => (entered = resolve));
      const gate = new Promise<void>((resolve) => (release = resolve));
      const work = t.ctx.tenants.run(company, async (db) => {
        await db.execute(sql`select 1`);
        entered();
        await gate;
        return db.execute<{ n: number }>(sql`select 2 as n`);
      });
      await inside;
      t.ctx.tenants.pools.evict(tenant.id);
      release();
      await expect(work).resolves.toEqual([{ n: 2 }]);
    });

    // Callers that share one open resume only after the pool is in the map; an open for another
    // company in between (here maxPools is 1, so it must evict) may not end the pool under them.
    it('when another open evicts a shared open before its callers have resumed', async () => {
      const pools = new PoolMap(
        { maxPools: 1, perCompany: 1, serverBudget: 10, idleTimeoutSeconds: 5, connectTimeoutSeconds: 2 },
        tenantPoolOpener,
      );
      const target = async (tenant: Tenant): Promise<TenantTarget> => {
        const c = await companyRow(t, tenant.id);
        const url = await t.ctx.servers.urlFor(c.serverId!, c.databaseName!, {
          user: c.roleName!,
          password: t.ctx.box.open(c.credentialsEncrypted!, sealedAt.companyCredentials(c.id)),
        });
        return { companyId: c.id, serverId: c.serverId!, url: async () => url };
      };
      const [a, b] = [await target(tenants[32]!), await target(tenants[33]!)];
      const select = (db: TenantDb) => db.execute<{ n: number }>(sql`select 1 as n`);
      try {
        const results = await Promise.allSettled([pools.run(a, select), pools.run(a, select), pools.run(b, select)]);
        expect(results.map((r) => (r.status === 'fulfilled' ? 'ok' : String((r.reason as Error).cause ?? r.reason)))).toEqual([
          'ok',
          'ok',
          'ok',
        ]);
      } finally {
        await pools.close();
      }
    });

    it('when a request that hashes a password first has its pool evicted meanwhile', async () => {
      const tenant = tenants[31]!;
      expect((await t.call('GET', '/api/users', { token: tenant.token })).status).toBe(200); // warm
      const create = t.call('POST', '/api/users', {
        token: tenant.token,
        body: { email: 'late@pool.test', role: 'member', password: 'member-password' },
      });
      await sleep(15); // inside the handler, hashing (bcrypt takes ~50-100 ms here)
      t.ctx.tenants.pools.evict(tenant.id);
      const res = await create;
      expect(res.status, res.text).toBe(201);
    });
  });

  it('answers 503 unavailable within the connect timeout while a tenant server is down, and recovers when it is back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'silo-second-'));
    let second: EmbeddedServer | undefined;
    try {
      const port = await freePort();
      second = await startEmbeddedPostgres(dir, { port });
      const added = await t.call('POST', '/api/servers', { token: t.adminToken, body: { name: 'second', url: second.url } });
      expect(added.status, added.text).toBe(201);
      const tenant = await createTenant(t, 'far-away', { serverId: added.body.id });
      const company = await companyRow(t, tenant.id);
      expect(company.serverId).toBe(added.body.id);
      expect((await t.call('GET', '/api/users', { token: tenant.token })).status).toBe(200);

      await second.stop();
      second = undefined;
      const started = performance.now();
      const down = await t.call('GET', '/api/users', { token: tenant.token });
      const elapsed = performance.now() - started;
      expect(down.status, down.text).toBe(503);
      expect(down.body.error.code).toBe('unavailable');
      expect(down.text).not.toMatch(/postgres:\/\/|password/i);
      expect(elapsed).toBeLessThan(5000);
      const servers = await t.call('GET', '/api/servers', { token: t.adminToken });
      expect(servers.body.items.find((s: { id: string }) => s.id === added.body.id).reachable).toBe(false);
      // Other companies are not affected.
      expect((await t.call('GET', '/api/users', { token: tenants[0]!.token })).status).toBe(200);

      // A server that accepts connections and never answers: 503 once SILO_TENANT_CONNECT_TIMEOUT (2 s) is up.
      const sockets = new Set<Socket>();
      const silent = createServer((socket) => void sockets.add(socket));
      await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve));
      try {
        const waited = performance.now();
        const hung = await t.call('GET', '/api/users', { token: tenant.token });
        const took = performance.now() - waited;
        expect(hung.status, hung.text).toBe(503);
        expect(hung.body.error.code).toBe('unavailable');
        expect(took).toBeGreaterThan(1500);
        expect(took).toBeLessThan(5000);
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }

      second = await startEmbeddedPostgres(dir);
      let status = 0;
      for (let attempt = 0; attempt < 20 && status !== 200; attempt++) {
        if (attempt > 0) await sleep(250);
        status = (await t.call('GET', '/api/users', { token: tenant.token })).status;
      }
      expect(status).toBe(200);
      expect((await t.call('GET', '/api/health/tenant', { token: tenant.token })).status).toBe(200);
      const again = await t.call('GET', '/api/servers', { token: t.adminToken });
      expect(again.body.items.find((s: { id: string }) => s.id === added.body.id).reachable).toBe(true);
      // Its pool holds connections to the second server: end them before that server goes away.
      t.ctx.tenants.pools.evict(tenant.id);
      await settle(t);
    } finally {
      await second?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows pool figures and latencies by route pattern on /metrics', async () => {
    const tenant = tenants[1]!;
    expect((await t.call('GET', `/api/users/${tenant.adminId}`, { token: tenant.token })).status).toBe(200);
    const res = await t.call('GET', '/metrics', { token: t.adminToken });
    expect(res.status).toBe(200);
    for (const name of [
      'silo_pool_open_pools',
      'silo_pool_draining_pools',
      'silo_pool_connections_at_most',
      'silo_pool_hits',
      'silo_pool_misses',
      'silo_pool_evictions',
      'silo_pool_opens_in_flight',
    ]) {
      expect(res.text).toMatch(new RegExp(`^${name} \\d+`, 'm'));
    }
    const open = Number(/^silo_pool_open_pools (\d+)/m.exec(res.text)![1]);
    expect(open).toBeGreaterThan(0);
    expect(open).toBeLessThanOrEqual(MAX_POOLS);
    expect(res.text).toMatch(/silo_http_request_duration_seconds_count\{[^}]*route="\/api\/users\/:id"[^}]*status="200"[^}]*\} [1-9]/);
    const routes = [...res.text.matchAll(/route="([^"]*)"/g)].map((m) => m[1]!);
    expect(routes).toContain('/api/users');
    expect(routes.filter((r) => /[0-9a-f]{8}-[0-9a-f]{4}-/.test(r))).toEqual([]);
  });

  // Last: it ends this Silo's pools.
  it('ends every tenant connection on graceful shutdown', async () => {
    await pooled(MAX_POOLS, MAX_POOLS, (i) => t.call('GET', '/api/users', { token: tenants[i]!.token }));
    expect(await tenantBackends(t)).toBeGreaterThan(0);
    await t.ctx.tenants.close();
    expect(t.ctx.tenants.pools.stats()).toMatchObject({ openPools: 0, drainingPools: 0 });
    expect(await tenantBackends(t)).toBe(0);
  });
});

describe('company login', () => {
  let t: TestSilo;
  let tenant: Tenant;
  const password = 'boss-password';

  beforeAll(async () => {
    t = await createTestSilo({
      env: { SILO_LOGIN_MAX_FAILURES: '3', SILO_LOGIN_MAX_FAILURES_PER_IP: '5', SILO_TRUST_PROXY: 'true', SILO_LOG_LEVEL: 'warn' },
    });
    tenant = await createTenant(t, 'login-co');
  });
  afterAll(async () => {
    await t?.close();
  });

  const login = (body: { email: string; password: string; company: string }, from: string) =>
    t.call('POST', '/api/auth/login', { token: null, body, headers: { 'x-forwarded-for': from } });

  it('answers 429 with Retry-After after the failures allowed per account, then per address', async () => {
    const boss = { email: `boss@${tenant.slug}.test`, company: tenant.slug };
    for (let i = 0; i < 3; i++) {
      const res = await login({ ...boss, password: 'wrong-password' }, '203.0.113.1');
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('invalid_credentials');
    }
    const blocked = await login({ ...boss, password: 'wrong-password' }, '203.0.113.1');
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('rate_limited');
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(900);
    // The right password past the limit is still refused, from this address or any other.
    expect((await login({ ...boss, password }, '203.0.113.1')).status).toBe(429);
    expect((await login({ ...boss, password }, '198.51.100.7')).status).toBe(429);

    // Another account from the same address: refused only once the address has used its 5.
    const other = { email: `nobody@${tenant.slug}.test`, company: tenant.slug };
    expect((await login({ ...other, password: 'wrong-password' }, '203.0.113.1')).status).toBe(401);
    expect((await login({ ...other, password: 'wrong-password' }, '203.0.113.1')).status).toBe(401);
    const addressBlocked = await login({ ...other, password: 'wrong-password' }, '203.0.113.1');
    expect(addressBlocked.status).toBe(429);
    expect(Number(addressBlocked.headers.get('retry-after'))).toBeGreaterThan(0);
    // That account from another address is not blocked.
    expect((await login({ ...other, password: 'wrong-password' }, '198.51.100.8')).status).toBe(401);
  });

  it('answers the same 401 in about the same time for an unknown company, an unknown email and a wrong password', async () => {
    // Accounts of their own (the limit above is per account): three members to try wrong passwords on.
    const members: string[] = [];
    for (let i = 0; i < 5; i++) {
      const email = `member${i}@${tenant.slug}.test`;
      const created = await t.call('POST', '/api/users', {
        token: tenant.token,
        body: { email, role: 'member', password: 'member-password' },
      });
      expect(created.status).toBe(201);
      members.push(email);
    }
    const cases = {
      unknownCompany: (i: number) => ({ email: `x${i}@nowhere.test`, password, company: `no-such-co-${i}` }),
      unknownEmail: (i: number) => ({ email: `ghost${i}@${tenant.slug}.test`, password, company: tenant.slug }),
      wrongPassword: (i: number) => ({ email: members[i]!, password: 'not-the-password', company: tenant.slug }),
    };
    const times: Record<keyof typeof cases, number[]> = { unknownCompany: [], unknownEmail: [], wrongPassword: [] };
    let address = 0;
    // Rounds rotate the three cases, so that background noise falls on all of them alike.
    for (let round = 0; round < 5; round++) {
      for (const name of Object.keys(cases) as (keyof typeof cases)[]) {
        const started = performance.now();
        const res = await login(cases[name](round), `192.0.2.${++address}`);
        times[name].push(performance.now() - started);
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ error: { code: 'invalid_credentials', message: expect.any(String) } });
      }
    }
    const messages = new Set<string>();
    for (const name of Object.keys(cases) as (keyof typeof cases)[]) {
      messages.add((await login(cases[name](0), `192.0.2.${++address}`)).body?.error?.message);
    }
    expect(messages.size).toBe(1);
    const medians = Object.values(times).map((list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!);
    expect(Math.max(...medians) / Math.min(...medians), `medians ${medians.map((m) => m.toFixed(1)).join(', ')} ms`).toBeLessThan(3);
  });
});
