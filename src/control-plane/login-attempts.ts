// Failed-login limits shared by every Silo instance: the counts live in the management database
// (login_attempts), so N instances behind a load balancer allow what one does, not N times that.
// Per account and per client address, a fixed window that starts at the first attempt; every
// attempt counts before its password is checked (docs/security.md, "Login limits").
//
// One short transaction per attempt: both rows are locked (in key order, so two attempts never
// wait on each other in a circle), checked and counted together, so parallel attempts on any
// instances cannot get past a limit between a check and a count. Should the management database
// not answer, attempts are counted in this instance's memory meanwhile (src/base/auth/login-limiter.ts):
// the limits then hold per instance rather than not at all.
import { createHash } from 'node:crypto';
import type { Sql } from 'postgres';
import { type LoginLimits, LoginLimiter } from '../base/auth/login-limiter.ts';
import { inSqlTransaction } from '../base/db/transaction.ts';
import { describeError, isConnectionError, pgCode, SiloError } from '../base/errors.ts';
import type { Logger } from '../base/logger.ts';

/** The row of what is counted: a hash, so that the table holds no email in the clear. */
function rowKey(counted: string): string {
  return createHash('sha256').update(counted).digest('base64url');
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
      { key: rowKey(`account:${account}`), max: this.limits.maxFailures },
      { key: rowKey(`address:${address}`), max: this.limits.maxFailuresPerAddress },
    ].sort((a, b) => (a.key < b.key ? -1 : 1));
    const keys = counted.map((c) => c.key);
    try {
      await retryDeadlock(() =>
        inSqlTransaction(this.sql, async (tx) => {
          // Rows to lock; a new one (a window that has ended) counts as no attempt yet.
          await tx`
          insert into login_attempts (key, attempts, window_ends)
          select key, 0, 'epoch'::timestamptz from unnest(${tx.array(keys)}::text[]) as key order by key
          on conflict (key) do nothing`;
          const rows = await tx<{ key: string; attempts: number; live: boolean; secondsLeft: number }[]>`
          select key, attempts, window_ends > now() as live,
                 ceil(extract(epoch from window_ends - now()))::int as "secondsLeft"
          from login_attempts where key = any(${tx.array(keys)}::text[]) order by key for update`;
          for (const row of rows) {
            const max = counted.find((c) => c.key === row.key)!.max;
            if (row.live && row.attempts >= max) {
              throw new SiloError('rate_limited', 'too many failed logins; try again later', {
                retryAfterSeconds: Math.max(1, row.secondsLeft),
              });
            }
          }
          await tx`
          update login_attempts set
            attempts = case when window_ends > now() then attempts + 1 else 1 end,
            window_ends = case when window_ends > now() then window_ends
                               else now() + make_interval(secs => ${this.limits.windowSeconds}) end
          where key = any(${tx.array(keys)}::text[])`;
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
    await this.sql`
      with cleared as (delete from login_attempts where key = ${rowKey(`account:${account}`)})
      update login_attempts set attempts = attempts - 1
      where key = ${rowKey(`address:${address}`)} and attempts > 0 and window_ends > now()`.catch((error: unknown) =>
      this.log.warn({ error: describeError(error) }, 'could not clear the login attempts of a successful login'),
    );
  }

  /** Deletes rows whose window has ended, at most once a window per instance, in the background. */
  private sweep(): void {
    const now = Date.now();
    if (now - this.lastSweep < this.limits.windowSeconds * 1000) return;
    this.lastSweep = now;
    this.sql`delete from login_attempts where window_ends < now()`.catch((error: unknown) =>
      this.log.debug({ error: describeError(error) }, 'could not delete ended login windows'),
    );
  }
}

/**
 * Runs `work` again when PostgreSQL chose it as a deadlock's victim (40P01): a success's reset and
 * the sweep of ended windows lock rows in their own order, and a login must not fail for that.
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
