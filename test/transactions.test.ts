// The transaction rule (docs/reliability.md): every transaction Silo opens goes through
// src/base/db/transaction.ts, which runs it on a connection no other caller can use meanwhile.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql as dsql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction } from '../src/base/db/transaction.ts';
import { tenantPipelineOption } from '../src/data-plane/tenant-db.ts';
import { randomName, serverUrl } from './support/test-silo.ts';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/**
 * Raw BEGINs allowed outside the helper, each on a connection that is its caller's alone: the
 * migration runner's script runs on the connection withOneConnection() lends, and a move's copy
 * sides, a backup's snapshot and a restore's load are one-connection clients of their own.
 */
const RAW_BEGIN_ALLOWED = new Set([
  'src/base/db/migration-runner.ts',
  'src/operations/scale-out/move-copy.ts',
  'src/operations/backups/snapshot.ts',
  'src/operations/backups/load-archive.ts',
]);

describe('the transaction rule', () => {
  it('has no transaction started outside src/base/db/transaction.ts', () => {
    const offences: string[] = [];
    for (const file of sourceFiles('src')) {
      if (file === join('src', 'base', 'db', 'transaction.ts')) continue;
      const text = readFileSync(file, 'utf8');
      for (const [i, line] of text.split('\n').entries()) {
        const code = line.replace(/\/\/.*$/, '');
        // drizzle's db.transaction() and postgres.js's sql.begin(): both end in sql.begin().
        if (/\.(transaction|begin)\s*\(/.test(code)) offences.push(`${file}:${i + 1}: ${line.trim()}`);
        if (/['"`]\s*begin\b/i.test(code) && !RAW_BEGIN_ALLOWED.has(file.split(/[\\/]/).join('/'))) {
          offences.push(`${file}:${i + 1}: ${line.trim()}`);
        }
      }
    }
    expect(offences, 'use inTransaction() or inSqlTransaction() from src/base/db/transaction.ts').toEqual([]);
  });
});

describe('inTransaction on a busy pool', () => {
  const database = `tx_${randomName()}`;
  let admin: postgres.Sql;
  let pool: postgres.Sql;
  let db: ReturnType<typeof drizzle>;

  beforeAll(async () => {
    admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
    await admin`create database ${admin(database)}`;
    // Shaped like a tenant pool: a few connections, one query pipelined behind another.
    pool = postgres(serverUrl(database), { max: 3, onnotice: () => {}, ...tenantPipelineOption });
    db = drizzle(pool);
    await pool`create table counters (id int primary key, n int not null)`;
    await pool`insert into counters values (1, 0)`;
  });
  afterAll(async () => {
    // A timeout: postgres.js waits for ever on a connection that was lost mid-query and never reused.
    await pool?.end({ timeout: 1 });
    await admin`drop database if exists ${admin(database)} with (force)`;
    await admin.end();
  });

  it('waits for an idle connection rather than pipelining BEGIN behind a busy one', async () => {
    const sleeps = Array.from({ length: 3 }, () => pool`select pg_sleep(0.5)`.then(() => 'slept'));
    // Wait until every connection of the pool is in the middle of a query.
    let busy = 0;
    while (busy < 3) {
      const [row] = await admin<{ busy: number }[]>`
        select count(*)::int as busy from pg_stat_activity where datname = ${database} and query like '%pg_sleep(0.5)%' and state = 'active'`;
      busy = row!.busy;
    }
    const outcome = await inTransaction(db, async (tx) => {
      await tx.execute(dsql`update counters set n = n + 1 where id = 1`);
      return 'committed';
    }).catch((error: Error) => error.message);
    expect(outcome).toBe('committed');
    expect(await Promise.all(sleeps)).toEqual(['slept', 'slept', 'slept']);
    await pool`update counters set n = 0 where id = 1`;
  });

  it('keeps each transaction to itself while other queries share the pool', async () => {
    // Reads outside any transaction keep every connection busy, so a BEGIN would be pipelined
    // behind one of them if the pool were allowed to.
    let reading = true;
    const readers = Array.from({ length: 8 }, async () => {
      while (reading) {
        // A read on its own has no transaction id; one run inside a writer's transaction would
        // see the id that the writer's update took.
        const [row] = await pool<{ inside: boolean }[]>`select pg_current_xact_id_if_assigned() is not null as inside`;
        expect(row!.inside).toBe(false);
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const writers = Array.from({ length: 8 }, async () => {
      const outcomes: unknown[] = [];
      for (let i = 0; i < 25; i++) {
        const outcome = await inTransaction(db, async (tx) => {
          await tx.execute(dsql`update counters set n = n + 1 where id = 1`);
          if (i % 5 === 0) throw new Error('rolled back on purpose');
        }).catch((error: Error) => error.message);
        outcomes.push(outcome);
      }
      return outcomes;
    });
    const outcomes = (await Promise.all(writers)).flat();
    reading = false;
    await Promise.all(readers);
    expect(outcomes.filter((o) => o === 'rolled back on purpose')).toHaveLength(40);
    expect(outcomes.filter((o) => o !== undefined && o !== 'rolled back on purpose')).toEqual([]);
    const [row] = await pool<{ n: number }[]>`select n from counters where id = 1`;
    expect(row!.n).toBe(160);
  });

  it("gives the connection back when the work fails on another database's connection error", { timeout: 15_000 }, async () => {
    // More failures than the pool has connections: a connection kept after each would starve it.
    for (let i = 0; i < 4; i++) {
      const outcome = await inTransaction(db, async () => {
        throw Object.assign(new Error('another server refused'), { code: 'ECONNREFUSED' });
      }).catch((error: { code: string }) => error.code);
      expect(outcome).toBe('ECONNREFUSED');
    }
    expect(await inTransaction(db, async (tx) => (await tx.execute(dsql`select 1 as one`))[0])).toEqual({ one: 1 });
  });

  it('fails a transaction whose connection dies, and the pool serves the next one', async () => {
    const failed = await inTransaction(db, async (tx) => {
      await tx.execute(dsql`update counters set n = n + 100 where id = 1`);
      const killer = setTimeout(() => {
        admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${database} and query like '%pg_sleep%' and pid <> pg_backend_pid()`.catch(
          () => {},
        );
      }, 300);
      try {
        await tx.execute(dsql`select pg_sleep(10)`);
      } finally {
        clearTimeout(killer);
      }
    }).then(
      () => 'committed',
      () => 'failed',
    );
    expect(failed).toBe('failed');
    // Killed between two of its queries: the next one must fail, not go to a socket that is gone.
    const idle = await inTransaction(db, async (tx) => {
      await tx.execute(dsql`update counters set n = n + 100 where id = 1`);
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${database} and state like 'idle in transaction%'`;
      await new Promise((resolve) => setTimeout(resolve, 200));
      await tx.execute(dsql`select 1`);
    }).then(
      () => 'committed',
      () => 'failed',
    );
    expect(idle).toBe('failed');
    const [row] = await pool<{ n: number }[]>`select n from counters where id = 1`;
    expect(row!.n).toBe(160);
    expect(await inTransaction(db, async (tx) => (await tx.execute(dsql`select 41 + 1 as answer`))[0])).toEqual({ answer: 42 });
  });
});
