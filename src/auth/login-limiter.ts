// Failed-login limits, per account and per client address: a fixed window that starts at the first
// failure. In memory, so each Silo instance counts its own attempts (documented in docs/decisions.md).
import { LRUCache } from 'lru-cache';
import { SiloError } from '../errors.ts';

export interface LoginLimits {
  maxFailures: number;
  maxFailuresPerAddress: number;
  windowSeconds: number;
}

export class LoginLimiter {
  private readonly failures: LRUCache<string, number>;

  constructor(private readonly limits: LoginLimits) {
    this.failures = new LRUCache<string, number>({ max: 100_000, ttl: limits.windowSeconds * 1000, noUpdateTTL: true });
  }

  private keys(account: string, address: string) {
    return [
      { key: `account:${account}`, max: this.limits.maxFailures },
      { key: `address:${address}`, max: this.limits.maxFailuresPerAddress },
    ];
  }

  /** Throws 429 rate_limited, with the seconds to wait, when either limit is used up. */
  check(account: string, address: string): void {
    for (const { key, max } of this.keys(account, address)) {
      if ((this.failures.get(key) ?? 0) >= max) {
        const retryAfter = Math.max(1, Math.ceil(this.failures.getRemainingTTL(key) / 1000));
        throw new SiloError('rate_limited', 'too many failed logins; try again later', { retryAfterSeconds: retryAfter });
      }
    }
  }

  recordFailure(account: string, address: string): void {
    for (const { key } of this.keys(account, address)) this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
  }

  recordSuccess(account: string): void {
    this.failures.delete(`account:${account}`);
  }
}
