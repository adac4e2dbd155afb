// Whoever writes a login-limit row (an attempt, a successful login's reset) takes the advisory
// locks of both its keys in one ascending order, and the sweep never waits for a row, so no two can
// deadlock. The interleaving that would deadlock a writer taking them in another order is set up
// here on purpose: another attempt's transaction holds the lower key while a reset starts, then
// takes the higher. And 16 clients logging in and failing at once on four instances, with sweeps
// between, cause no deadlock on the server (pg_stat_database.deadlocks, which the retry on 40P01
// would otherwise hide).
import { Writable } from 'node:stream';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_CLASS } from '../src/base/db/advisory-lock.ts';
import { createLogger } from '../src/base/logger.ts';
import { rowKey, SharedLoginLimiter } from '../src/control-plane/login-attempts.ts';
import { createTestSilo, randomName, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
let other: postgres.Sql;
const warnings: string[] = [];
const log = createLogger(
  'warn',
  new Writable({
    write(chunk, _encoding, done) {
      warnings.push(String(chunk));
      done();
    },
  }),
);
const limits = { maxFailures: 1000, maxFailuresPerAddress: 1000, windowSeconds: 60 };

beforeAll(async () => {
  t = await createTestSilo();
  other = postgres(t.config.databaseUrl!, { max: 1, onnotice: () => {} });
});

afterAll(async () => {
  await other?.end();
  await t?.close();
});

/** Waits until a session other than `pid` waits for a login-limit lock. */
async function someoneWaitsBehind(pid: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const [row] = await t.ctx.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where pid <> ${pid} and wait_event_type = 'Lock' and query like '%advisory%'`;
    if (row!.n > 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('nobody waited for the row');
}

/** Deadlocks the server has seen in the management database, once the statistics are flushed. */
async function deadlocks(): Promise<number> {
  await new Promise((r) => setTimeout(r, 1500));
  await t.ctx.sql`select pg_stat_clear_snapshot()`;
  const [row] = await t.ctx.sql<{ n: number }[]>`select deadlocks::int as n from pg_stat_database where datname = current_database()`;
  return row!.n;
}

const rowOf = async (key: string) => (await t.ctx.sql`select attempts from login_attempts where key = ${key}`)[0];

describe("a successful login's reset", () => {
  for (const accountFirst of [true, false]) {
    it(`takes its locks in the attempts' order, so it waits without a deadlock (account ${accountFirst ? 'lower' : 'higher'})`, async () => {
      let account: string;
      const address = '203.0.113.7';
      do account = `acct-${randomName()}`;
      while (rowKey(`account:${account}`).lock < rowKey(`address:${address}`).lock !== accountFirst);
      const rows = [rowKey(`account:${account}`), rowKey(`address:${address}`)];
      const [lower, higher] = rows.sort((a, b) => a.lock - b.lock) as [(typeof rows)[0], (typeof rows)[0]];
      const limiter = new SharedLoginLimiter(t.ctx.sql, limits, log);
      await limiter.countAttempt(account, address);
      const warned = warnings.length;
      const before = await deadlocks();

      // Another attempt's transaction, as countAttempt takes its locks: the lower key, then (once
      // the reset waits) the higher one.
      const [{ pid }] = (await other`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
      await other`begin`;
      await other`set local lock_timeout = '5s'`;
      await other`select pg_advisory_xact_lock(${LOCK_CLASS.loginAttempts}, ${lower.lock})`;
      const reset = limiter.succeeded(account, address);
      await someoneWaitsBehind(pid);
      // The reset holds nothing while it waits: the higher key is free at once.
      await other`select pg_advisory_xact_lock(${LOCK_CLASS.loginAttempts}, ${higher.lock})`;
      await other`select key from login_attempts where key = ${higher.key} for update`;
      await other`commit`;
      await reset;

      expect(warnings.slice(warned)).toEqual([]);
      // None: the retry on 40P01 would have hidden one from the reset's caller.
      expect(await deadlocks()).toBe(before);
      expect(await rowOf(rowKey(`account:${account}`).key)).toBeUndefined();
      expect(await rowOf(rowKey(`address:${address}`).key)).toEqual({ attempts: 0 });
    });
  }
});

describe('the sweep of ended windows', () => {
  it('skips a row another transaction holds instead of waiting for it, and deletes the others', async () => {
    const ended = ['a', 'b', 'c'].map((k) => `ended-${k}-${randomName()}`);
    for (const key of ended) await t.ctx.sql`insert into login_attempts values (${key}, 3, now() - interval '1 minute')`;
    await other`begin`;
    await other`select key from login_attempts where key = ${ended[1]!} for update`;
    // A new limiter sweeps after its first attempt.
    await new SharedLoginLimiter(t.ctx.sql, limits, log).countAttempt(`acct-${randomName()}`, '192.0.2.1');
    let left: string[] = ended;
    for (let i = 0; i < 100 && left.length > 1; i++) {
      await new Promise((r) => setTimeout(r, 50));
      left = (await t.ctx.sql<{ key: string }[]>`select key from login_attempts where key = any(${ended})`).map((r) => r.key);
    }
    await other`rollback`;
    expect(left).toEqual([ended[1]]);
  });
});

describe('16 clients at once', () => {
  it('fail and succeed at logging in, with sweeps between, and the server sees no deadlock', async () => {
    const before = await deadlocks();
    const warned = warnings.length;
    // Four instances, windows of 1 s: each sweeps about once a second while the clients run.
    const instances = Array.from({ length: 4 }, () => new SharedLoginLimiter(t.ctx.sql, { ...limits, windowSeconds: 1 }, log));
    const accounts = Array.from({ length: 6 }, () => `acct-${randomName()}`);
    const addresses = ['198.51.100.1', '198.51.100.2', '198.51.100.3'];
    const until = Date.now() + 3000;
    const client = async (n: number) => {
      for (let i = 0; Date.now() < until; i++) {
        const limiter = instances[(n + i) % instances.length]!;
        const account = accounts[(n * 7 + i) % accounts.length]!;
        const address = addresses[(n + i * 5) % addresses.length]!;
        await limiter.countAttempt(account, address);
        if ((n + i) % 3 === 0) await limiter.succeeded(account, address);
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, n) => client(n)));
    expect(await deadlocks()).toBe(before);
    expect(warnings.slice(warned)).toEqual([]);
  });
});
