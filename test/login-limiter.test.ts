// The failed-login limits and the login gate, without a database or a clock of their own: what a
// flood of guesses meets before any password is checked.
import { describe, expect, it } from 'vitest';
import { refusal } from './support/refusal.ts';
import { LoginGate } from '../src/base/auth/login-gate.ts';
import { LoginLimiter } from '../src/base/auth/login-limiter.ts';

describe('the login limiter', () => {
  const limits = { maxFailures: 3, maxFailuresPerAddress: 5, windowSeconds: 60 };

  it('refuses an account past its limit with 429 and the seconds to wait, before the password is checked', () => {
    const limiter = new LoginLimiter(limits);
    for (let i = 0; i < 3; i++) limiter.countAttempt('c1/ann@x.test', 'a1');
    const error = refusal(() => limiter.countAttempt('c1/ann@x.test', 'a2'));
    expect(error.code).toBe('rate_limited');
    expect(error.details).toEqual({ retryAfterSeconds: expect.any(Number) });
    const { retryAfterSeconds } = error.details as { retryAfterSeconds: number };
    expect(retryAfterSeconds).toBeGreaterThan(0);
    expect(retryAfterSeconds).toBeLessThanOrEqual(60);
    // Another account is not affected.
    expect(() => limiter.countAttempt('c1/bob@x.test', 'a3')).not.toThrow();
  });

  it('refuses an address that tries many accounts', () => {
    const limiter = new LoginLimiter(limits);
    for (let i = 0; i < 5; i++) limiter.countAttempt(`c1/user${i}@x.test`, 'a1');
    expect(refusal(() => limiter.countAttempt('c1/new@x.test', 'a1')).code).toBe('rate_limited');
    expect(() => limiter.countAttempt('c1/new@x.test', 'a2')).not.toThrow();
  });

  it('starts an account afresh after the right password, and does not count it against the address', () => {
    const limiter = new LoginLimiter(limits);
    for (let round = 0; round < 4; round++) {
      limiter.countAttempt('c1/ann@x.test', 'a1');
      limiter.countAttempt('c1/ann@x.test', 'a1');
      limiter.succeeded('c1/ann@x.test', 'a1');
    }
    // 8 attempts from a1, 4 of them right: 4 count, under the address limit of 5.
    expect(() => limiter.countAttempt('c1/other@x.test', 'a1')).not.toThrow();
    expect(refusal(() => limiter.countAttempt('c1/third@x.test', 'a1')).code).toBe('rate_limited');
  });

  it('counts each attempt as it starts: of 20 started before any has failed, only the limit get through', () => {
    const limiter = new LoginLimiter(limits);
    const outcomes = Array.from({ length: 20 }, () => {
      try {
        limiter.countAttempt('c1/ann@x.test', `a${Math.random()}`);
        return 'counted';
      } catch {
        return 'refused';
      }
    });
    expect(outcomes.filter((o) => o === 'counted')).toHaveLength(3);
  });
});

describe('the login gate', () => {
  it('sheds logins past the bound (503 in all, 429 per company) and takes them again once places are given back', () => {
    const gate = new LoginGate({ maxConcurrent: 3, maxConcurrentPerCompany: 2 });
    const leaves = [gate.enter(), gate.enter(), gate.enter()];
    expect(refusal(() => gate.enter()).code).toBe('unavailable');
    leaves.pop()!();
    const perCompany = [gate.enterCompany('c1'), gate.enterCompany('c1')];
    expect(refusal(() => gate.enterCompany('c1')).code).toBe('rate_limited');
    expect(() => gate.enterCompany('c2')()).not.toThrow();
    perCompany[0]!();
    expect(() => gate.enterCompany('c1')()).not.toThrow();
    for (const leave of leaves) leave();
    expect(() => gate.enter()()).not.toThrow();
  });
});
