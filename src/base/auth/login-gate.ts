// How many logins may be in progress at once, in all and per company. Each login costs a bcrypt
// compare on a few worker threads; without a bound, a flood of logins queues without end, and every
// login behind it (and every sign-up's hash) waits. Past the bound a login is shed at once: 503 when
// the instance is busy, 429 when one company has too many logins in progress.
import { SiloError } from '../errors.ts';

export interface LoginConcurrency {
  maxConcurrent: number;
  maxConcurrentPerCompany: number;
}

export class LoginGate {
  private inProgress = 0;
  private readonly perCompany = new Map<string, number>();

  constructor(private readonly limits: LoginConcurrency) {}

  /** Takes a place for one login; the returned function gives it back (call it exactly once). */
  enter(): () => void {
    if (this.inProgress >= this.limits.maxConcurrent) {
      throw new SiloError('unavailable', 'too many logins in progress; try again shortly', { retryAfterSeconds: 1 });
    }
    this.inProgress++;
    return () => {
      this.inProgress--;
    };
  }

  /** Takes a place among one company's logins (by company id); the returned function gives it back. */
  enterCompany(companyId: string): () => void {
    const count = this.perCompany.get(companyId) ?? 0;
    if (count >= this.limits.maxConcurrentPerCompany) {
      throw new SiloError('rate_limited', 'too many logins in progress for this company; try again shortly', { retryAfterSeconds: 1 });
    }
    this.perCompany.set(companyId, count + 1);
    return () => {
      const left = (this.perCompany.get(companyId) ?? 1) - 1;
      if (left > 0) this.perCompany.set(companyId, left);
      else this.perCompany.delete(companyId);
    };
  }
}
