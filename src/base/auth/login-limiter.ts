// Failed-login limits, per account and per client address: a fixed window that starts at the first
// attempt, counted in this instance's memory. Logins count in the management database, shared by
// every instance (src/control-plane/login-attempts.ts); this is what counts while it cannot be reached.
import { LRUCache } from 'lru-cache';
import { SiloError } from '../errors.ts';

export interface LoginLimits {
  maxFailures: number;
  maxFailuresPerAddress: number;
  windowSeconds: number;
}

export class LoginLimiter {
  private readonly attempts: LRUCache<string, number>;

  constructor(private readonly limits: LoginLimits) {
    this.attempts = new LRUCache<string, number>({ max: 100_000, ttl: limits.windowSeconds * 1000, noUpdateTTL: true });
  }

  private keys(account: string, address: string) {
    return [
      { key: `account:${account}`, max: this.limits.maxFailures },
      { key: `address:${address}`, max: this.limits.maxFailuresPerAddress },
    ];
  }

  /**
   * Counts an attempt before its password is checked, so that parallel attempts cannot all pass a
   * check made before any of them failed; throws 429 rate_limited, with the seconds to wait, when
   * either limit is used up. `account` must name the account one way only (the company's id, the
   * email in lower case), or each spelling would be a new account.
   */
  countAttempt(account: string, address: string): void {
    const keys = this.keys(account, address);
    for (const { key, max } of keys) {
      if ((this.attempts.get(key) ?? 0) >= max) {
        const retryAfter = Math.max(1, Math.ceil(this.attempts.getRemainingTTL(key) / 1000));
        throw new SiloError('rate_limited', 'too many failed logins; try again later', { retryAfterSeconds: retryAfter });
      }
    }
    for (const { key } of keys) this.attempts.set(key, (this.attempts.get(key) ?? 0) + 1);
  }

  /** The password was right: the account starts afresh, and the attempt does not count against the address. */
  succeeded(account: string, address: string): void {
    this.attempts.delete(`account:${account}`);
    const key = `address:${address}`;
    const count = this.attempts.get(key);
    if (count !== undefined && count > 0) this.attempts.set(key, count - 1);
  }
}
