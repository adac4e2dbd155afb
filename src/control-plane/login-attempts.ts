// Failed-login limits shared by every Silo instance: the counts live in the management database
// (login_attempts), so N instances behind a load balancer allow what one does, not N times that.
// Per account and per client address, a fixed window that starts at the first attempt; every
// attempt counts before its password is checked (docs/security.md, "Login limits").
//
// One short transaction per attempt: both rows are checked and counted together, so parallel
// attempts on any instances cannot get past a limit between a check and a count. No deadlock:
// whoever writes a row (an attempt, a success's reset) first takes a transaction-level advisory
// lock on its key, both keys in one ascending order. Row locks alone did not do: a row deleted and
// inserted again between two statements of a transaction is a new row that the first statement
// never locked, so the second took it late and out of order (deadlocks seen under 16 clients). The
// sweep of ended windows takes no advisory lock but skips the rows others hold, so it never waits
// and cannot close a circle either. A retry on 40P01 stays as a guard.
//
// Should the management database not answer, attempts are counted in this instance's memory
// meanwhile (src/base/auth/login-limiter.ts): the limits then hold per instance rather than not
// at all.
import { createHash } from 'node:crypto';
import type { Sql, TransactionSql } from 'postgres';
import { type LoginLimits, LoginLimiter } from '../base/auth/login-limiter.ts';
import { LOCK_CLASS } from '../base/db/advisory-lock.ts';
import { inSqlTransaction } from '../base/db/transaction.ts';
import { describeError, isConnectionError, pgCode, SiloError } from '../base/errors.ts';
import type { Logger } from '../base/logger.ts';

/**
 * The row of what is counted: a hash, so that the table holds no email in the clear; and the
 * advisory lock that guards it (the hash's first 32 bits: two keys that share one share a lock,
 * which is only stricter).
 */
export function rowKey(counted: string): { key: string; lock: number } {
  const digest = createHash('sha256').update(counted).digest();
  return { key: digest.toString('base64url'), lock: digest.readInt32BE(0) };
}

/** Takes the advisory locks of `rows`, ascending, each once, until the transaction ends. */
async function lockKeys(tx: Sql | TransactionSql, rows: { lock: number }[]): Promise<void> {
  const locks = [...new Set(rows.map((r) => r.lock))].sort((a, b) => a - b);
  // One call per element of the array, in its order (a function scan keeps it).
  await tx`select pg_advisory_xact_lock(${LOCK_CLASS.loginAttempts}, lock) from unnest(${tx.array(locks)}::int4[]) as lock`;
}

export class SharedLoginLimiter {
  /** Counts attempts while the management database cannot be reached. */
  private readonly fallback: LoginLimiter;
  private lastSweep = 0;

  constructor(
    private readonly sql: Sql,
    private readonly limits: LoginLimits,
    private readonly log: Logger,
  ) {
    this.fallback = new LoginLimiter(limits);
  }

  /**
   * Counts an attempt before its password is checked; throws 429 rate_limited, with the seconds to
   * wait, when either limit is used up (and then counts nothing). `account` must name the account
   * one way only (the company's id, the email in lower case), or each spelling would be a new one.
   */
  async countAttempt(account: string, address: string): Promise<void> {
    const counted = [
      { ...rowKey(`account:${account}`), max: this.limits.maxFailures },
      { ...rowKey(`address:${address}`), max: this.limits.maxFailuresPerAddress },
    ];
    const keys = counted.map((c) => c.key);
    try {
      await retryDeadlock(() =>
        inSqlTransaction(this.sql, async (tx) => {
          await lockKeys(tx, counted);
          const rows = await tx<{ key: string; attempts: number; live: boolean; secondsLeft: number }[]>`
          select key, attempts, window_ends > now() as live,
                 ceil(extract(epoch from window_ends - now()))::int as "secondsLeft"
          from login_attempts where key = any(${tx.array(keys)}::text[])`;
          for (const row of rows) {
            const max = counted.find((c) => c.key === row.key)!.max;
            if (row.live && row.attempts >= max) {
              throw new SiloError('rate_limited', 'too many failed logins; try again later', {
                retryAfterSeconds: Math.max(1, row.secondsLeft),
              });
            }
          }
          // A row the sweep deleted meanwhile (its window had ended) is made again.
          await tx`
          insert into login_attempts as a (key, attempts, window_ends)
          select key, 1, now() + make_interval(secs => ${this.limits.windowSeconds})
          from unnest(${tx.array(keys)}::text[]) as key order by key
          on conflict (key) do update set
            attempts = case when a.window_ends > now() then a.attempts + 1 else 1 end,
            window_ends = case when a.window_ends > now() then a.window_ends else excluded.window_ends end`;
        }),
      );
    } catch (error) {
      if (!isConnectionError(error)) throw error;
      this.log.warn(
        { error: describeError(error) },
        'login attempts counted in this instance only: the management database cannot be reached',
      );
      this.fallback.countAttempt(account, address);
    }
    this.sweep();
  }

  /** The password was right: the account starts afresh, and the attempt does not count against the address. */
  async succeeded(account: string, address: string): Promise<void> {
    this.fallback.succeeded(account, address);
    const accountRow = rowKey(`account:${account}`);
    const addressRow = rowKey(`address:${address}`);
    await retryDeadlock(() =>
      inSqlTransaction(this.sql, async (tx) => {
        await lockKeys(tx, [accountRow, addressRow]);
        await tx`delete from login_attempts where key = ${accountRow.key}`;
        await tx`
          update login_attempts set attempts = attempts - 1
          where key = ${addressRow.key} and attempts > 0 and window_ends > now()`;
      }),
    ).catch((error: unknown) => this.log.warn({ error: describeError(error) }, 'could not clear the login attempts of a successful login'));
  }

  /** Deletes rows whose window has ended, at most once a window per instance, in the background. */
  private sweep(): void {
    const now = Date.now();
    if (now - this.lastSweep < this.limits.windowSeconds * 1000) return;
    this.lastSweep = now;
    // A row an attempt holds is skipped, never waited for (the next sweep takes it).
    this.sql`
      delete from login_attempts where key in (
        select key from login_attempts where window_ends < now() for update skip locked)`.catch((error: unknown) =>
      this.log.debug({ error: describeError(error) }, 'could not delete ended login windows'),
    );
  }
}

/**
 * Runs `work` again when PostgreSQL chose it as a deadlock's victim (40P01). The locks above are
 * taken in one order, so none is expected; should one happen all the same (a writer added without
 * the rule), a login must not fail for it.
 */
async function retryDeadlock<T>(work: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (pgCode(error) !== '40P01' || attempt >= attempts) throw error;
    }
  }
}
