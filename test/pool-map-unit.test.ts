// The pool map's bookkeeping on its own, with an injected opener that counts what it opens and
// ends (no database): the bounds on pools in all and per server, single flight, and eviction that
// waits for running work. test/pool-map.test.ts runs the same map on real Postgres.
import { describe, expect, it } from 'vitest';
import { PoolMap, type PoolMapOptions, type TenantTarget } from '../src/data-plane/pool-map.ts';
import type { TenantDb, TenantPoolOpener } from '../src/data-plane/tenant-db.ts';

const options: PoolMapOptions = { maxPools: 3, perCompany: 2, serverBudget: 4, idleTimeoutSeconds: 5, connectTimeoutSeconds: 2 };

/** An opener whose pools are tokens: each records that it was opened and, later, ended. */
function fakeOpener() {
  const opened: string[] = [];
  const ended: string[] = [];
  const opener: TenantPoolOpener = (url) => {
    opened.push(url);
    return { db: { url } as unknown as TenantDb, end: async () => void ended.push(url) };
  };
  return { opened, ended, openers: async () => opener };
}

const target = (companyId: string, serverId = 's1', delayMs = 0): TenantTarget => ({
  companyId,
  serverId,
  url: () => new Promise((resolve) => setTimeout(() => resolve(companyId), delayMs)),
});

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('the pool map, with an injected opener', () => {
  it('opens one pool for many first requests at once (single flight)', async () => {
    const fake = fakeOpener();
    const pools = new PoolMap(options, fake.openers);
    const dbs = await Promise.all(Array.from({ length: 20 }, () => pools.run(target('a', 's1', 10), async (db) => db)));
    expect(fake.opened).toEqual(['a']);
    expect(new Set(dbs).size).toBe(1);
    expect(pools.stats()).toMatchObject({ openPools: 1, misses: 1, hits: 19 });
  });

  it('keeps at most maxPools open, ending the least recently used', async () => {
    const fake = fakeOpener();
    const pools = new PoolMap({ ...options, serverBudget: 100 }, fake.openers);
    for (const id of ['a', 'b', 'c']) await pools.run(target(id), async () => {});
    await pools.run(target('a'), async () => {}); // a is now the most recently used
    await pools.run(target('d'), async () => {});
    await settle();
    expect(fake.ended).toEqual(['b']);
    expect(pools.stats()).toMatchObject({ openPools: 3, evictions: 1 });
  });

  it('counts a slot lent without a pool against its server, and waits for lent slots when no pool is left to evict', async () => {
    const fake = fakeOpener();
    const pools = new PoolMap(options, fake.openers); // 2 pools per server
    for (const id of ['a', 'b']) await pools.run(target(id), async () => {});
    const first = deferred();
    const second = deferred();
    const slots = [pools.withSlot('s1', () => first.promise), pools.withSlot('s1', () => second.promise)];
    await settle();
    // The server was full: its two pools made room for the two slots.
    expect(fake.ended).toEqual(['a', 'b']);
    expect(pools.stats()).toMatchObject({ openPools: 0 });
    // Nothing left to evict: a new pool on s1 waits until a slot is given back.
    let opened = false;
    const open = pools.run(target('c'), async () => {
      opened = true;
    });
    await settle();
    expect(opened).toBe(false);
    // Another server is not held up.
    await pools.run(target('x', 's2'), async () => {});
    first.resolve();
    await open;
    expect(opened).toBe(true);
    second.resolve();
    await Promise.all(slots);
  });

  it("keeps a server within its connection budget, and waits for an evicted pool's work before opening", async () => {
    const fake = fakeOpener();
    const pools = new PoolMap(options, fake.openers); // 4 connections / 2 per pool: 2 pools per server
    const working = deferred();
    const running = pools.run(target('a'), () => working.promise);
    await pools.run(target('b'), async () => {});
    // A third company on s1 evicts a (least recently used), which is still working: c waits.
    const third = pools.run(target('c'), async () => 'c served');
    // Another server is not held up meanwhile.
    await pools.run(target('x', 's2'), async () => {});
    await settle();
    expect(fake.opened).toEqual(['a', 'b', 'x']);
    expect(fake.ended).toEqual([]);
    expect(pools.stats().connectionsAtMost).toBeLessThanOrEqual(2 * options.serverBudget);

    working.resolve();
    await running;
    expect(await third).toBe('c served');
    expect(fake.ended).toEqual(['a']);
    expect(fake.opened).toEqual(['a', 'b', 'x', 'c']);
  });

  it('lets running work finish on an evicted pool and ends the pool after it', async () => {
    const fake = fakeOpener();
    const pools = new PoolMap(options, fake.openers);
    const working = deferred();
    const running = pools.run(target('a'), () => working.promise);
    await settle();
    pools.evict('a');
    await settle();
    expect(fake.ended).toEqual([]);
    expect(pools.stats()).toMatchObject({ openPools: 0, drainingPools: 1 });
    working.resolve();
    await running;
    await settle();
    expect(fake.ended).toEqual(['a']);
    expect(pools.stats()).toMatchObject({ drainingPools: 0 });
  });

  it('ends every pool on close', async () => {
    const fake = fakeOpener();
    const pools = new PoolMap(options, fake.openers);
    await pools.run(target('a'), async () => {});
    await pools.run(target('x', 's2'), async () => {});
    await pools.close();
    expect(fake.ended.sort()).toEqual(['a', 'x']);
    await expect(pools.run(target('b'), async () => {})).rejects.toThrow('closed');
  });
});
