// Advisory locks (src/base/db/advisory-lock.ts): one holder per key even within one instance, more
// holders at once than the lock pool has connections, and no lock taken inside another's work.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ifUnlocked, LOCK_CLASS } from '../src/base/db/advisory-lock.ts';
import { LOCK_CONNECTIONS } from '../src/control-plane/db.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;

beforeAll(async () => {
  t = await createTestSilo();
});
afterAll(async () => {
  await t?.close();
});

describe('advisory locks', () => {
  it('lets one taker of a key in while it runs, and the next one after', async () => {
    let release!: () => void;
    const holding = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const first = ifUnlocked(t.ctx.locks, LOCK_CLASS.companyDelete, 'one-key', async () => {
      entered();
      await holding;
      return 'first';
    });
    await inside;
    expect(await ifUnlocked(t.ctx.locks, LOCK_CLASS.companyDelete, 'one-key', async () => 'second')).toEqual({ locked: false });
    release();
    expect(await first).toEqual({ locked: true, value: 'first' });
    expect(await ifUnlocked(t.ctx.locks, LOCK_CLASS.companyDelete, 'one-key', async () => 'third')).toEqual({
      locked: true,
      value: 'third',
    });
  });

  it('runs more holders than the lock pool has connections, each using the management pool', async () => {
    const takers = LOCK_CONNECTIONS * 4;
    const results = await Promise.all(
      Array.from({ length: takers }, (_, i) =>
        ifUnlocked(t.ctx.locks, LOCK_CLASS.companyDelete, `key-${i}`, async () => {
          const [row] = await t.ctx.sql<{ n: number }[]>`select ${i}::int as n, pg_sleep(0.05)`;
          return row!.n;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: takers }, (_, i) => ({ locked: true, value: i })));
  });

  it('refuses a lock taken inside the work of another', async () => {
    const nested = ifUnlocked(t.ctx.locks, LOCK_CLASS.backupSchedule, 'outer', () =>
      ifUnlocked(t.ctx.locks, LOCK_CLASS.companyDelete, 'inner', async () => 'never'),
    );
    await expect(nested).rejects.toThrow(/inside the work of another/);
    // The outer lock was let go all the same.
    expect(await ifUnlocked(t.ctx.locks, LOCK_CLASS.backupSchedule, 'outer', async () => 'again')).toEqual({
      locked: true,
      value: 'again',
    });
  });
});
