// The login limits hold however the company is spelled, under parallel attempts, behind proxies and
// across instances (the counts are shared through the management database); logins are shed when
// too many are in progress, and a login waiting for bcrypt holds no tenant pool.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoginGate } from '../src/base/auth/login-gate.ts';
import { LoginLimiter } from '../src/base/auth/login-limiter.ts';
import { openSilo, type Silo } from '../src/bootstrap.ts';
import { createApp } from '../src/http/app.ts';
import { addressBucket, forwardedAddress } from '../src/http/client-address.ts';
import { ADMIN, createTestSilo, type TestSilo } from './support/test-silo.ts';

describe('LoginLimiter', () => {
  it('counts an attempt before its outcome, so parallel attempts cannot all pass', () => {
    const limiter = new LoginLimiter({ maxFailures: 3, maxFailuresPerAddress: 100, windowSeconds: 60 });
    let passed = 0;
    for (let i = 0; i < 10; i++) {
      try {
        limiter.countAttempt('acct', `10.0.0.${i}`);
        passed++;
      } catch (error) {
        expect(error).toMatchObject({ code: 'rate_limited' });
      }
    }
    expect(passed).toBe(3);
  });

  it('starts the account afresh after a right password', () => {
    const limiter = new LoginLimiter({ maxFailures: 2, maxFailuresPerAddress: 2, windowSeconds: 60 });
    limiter.countAttempt('acct', 'a');
    limiter.succeeded('acct', 'a');
    limiter.countAttempt('acct', 'a');
    limiter.countAttempt('acct', 'a');
    expect(() => limiter.countAttempt('acct', 'b')).toThrow('too many failed logins');
    expect(() => limiter.countAttempt('other', 'a')).toThrow('too many failed logins');
  });
});

describe('client address', () => {
  it('skips only the trusted proxies, from the right of X-Forwarded-For', () => {
    expect(forwardedAddress('6.6.6.6, 203.0.113.9', '10.0.0.1', 1)).toBe('203.0.113.9');
    expect(forwardedAddress('6.6.6.6, 203.0.113.9, 10.0.0.2', '10.0.0.1', 2)).toBe('203.0.113.9');
    expect(forwardedAddress(undefined, '10.0.0.1', 1)).toBe('10.0.0.1');
  });

  it('buckets IPv6 addresses by /64 and leaves IPv4 alone', () => {
    expect(addressBucket('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:0db8:0001:0002:ffff:0:0:9')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressBucket('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressBucket('192.0.2.7')).toBe('192.0.2.7');
  });
});

describe('LoginGate', () => {
  it('sheds logins past the bound, in all (503) and per company (429)', () => {
    const gate = new LoginGate({ maxConcurrent: 2, maxConcurrentPerCompany: 1 });
    const first = gate.enter();
    gate.enter();
    expect(() => gate.enter()).toThrow(expect.objectContaining({ code: 'unavailable' }));
    first();
    gate.enter();
    gate.enterCompany('c1');
    expect(() => gate.enterCompany('c1')).toThrow(expect.objectContaining({ code: 'rate_limited' }));
    gate.enterCompany('c2');
  });
});

/** Behind one proxy, 3 failures per account and 5 per address. */
const LIMITED = {
  SILO_TRUST_PROXY: 'true',
  SILO_LOGIN_MAX_FAILURES: '3',
  SILO_LOGIN_MAX_FAILURES_PER_IP: '5',
  SILO_LOGIN_MAX_CONCURRENT_PER_COMPANY: '100',
};

describe('login limits over HTTP', () => {
  let t: TestSilo;
  let companyId: string;
  const login = (body: Record<string, string>, forwardedFor: string) =>
    t.call('POST', '/api/auth/login', { token: null, body, headers: { 'x-forwarded-for': forwardedFor } });

  beforeAll(async () => {
    t = await createTestSilo({ env: LIMITED });
    const created = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Acme', slug: 'acme', admin: { email: 'boss@acme.test', password: 'boss-password' } },
    });
    companyId = created.body.id;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('locks an account whichever way its company is named', async () => {
    for (let i = 0; i < 3; i++) {
      const wrong = await login({ email: 'boss@acme.test', password: 'wrong-password', company: 'acme' }, `198.51.100.${i}`);
      expect(wrong.status).toBe(401);
    }
    for (const company of [companyId, companyId.toUpperCase(), 'acme']) {
      const right = await login({ email: 'BOSS@acme.test', password: 'boss-password', company }, '198.51.100.50');
      expect(right.status).toBe(429);
      expect(right.headers.get('retry-after')).toMatch(/^\d+$/);
    }
  });

  it('lets no more than the limit of parallel wrong attempts reach the password check', async () => {
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => login({ email: ADMIN.email, password: 'wrong-password' }, `192.0.2.${i + 1}`)),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(27);
  });

  it('counts by the address the trusted proxy saw, not one the client wrote', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await login({ email: `nobody${i}@acme.test`, password: 'wrong-password', company: 'acme' }, `10.${i}.0.1, 203.0.113.9`);
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
  });

  it('counts an IPv6 /64 as one address', async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 7; i++) {
      const res = await login({ email: `someone${i}@acme.test`, password: 'wrong-password', company: 'acme' }, `2001:db8:aa:bb::${i}`);
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
  });
});

describe('login limits across instances', () => {
  // Two instances on one management database, as behind a load balancer.
  let t: TestSilo;
  let other: Silo;
  let otherApp: ReturnType<typeof createApp>;
  const loginAt = async (app: ReturnType<typeof createApp>, body: Record<string, string>, forwardedFor: string) =>
    (
      await app.request('/api/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
        body: JSON.stringify(body),
      })
    ).status;

  beforeAll(async () => {
    t = await createTestSilo({ env: LIMITED });
    other = await openSilo(t.config, { listen: true, logDestination: new Writable({ write: (_c, _e, done) => done() }) });
    otherApp = createApp(other.ctx);
    const created = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Shared', slug: 'shared', admin: { email: 'boss@shared.test', password: 'boss-password' } },
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await other?.close();
    await t?.close();
  });

  it('share the count of an account: attempts alternating between the instances are limited as on one', async () => {
    const apps = [t.app, otherApp];
    const wrong = { email: 'boss@shared.test', password: 'wrong-password', company: 'shared' };
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push(await loginAt(apps[i % 2]!, wrong, `198.51.100.${i}`));
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
    // The right password is refused too now, on either instance.
    for (const app of apps) expect(await loginAt(app, { ...wrong, password: 'boss-password' }, '198.51.100.50')).toBe(429);
  });

  it('share the count of an address, and let no more than the limit of parallel attempts on both reach the password check', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        loginAt(
          i % 2 === 0 ? t.app : otherApp,
          { email: `u${i}@shared.test`, password: 'wrong-password', company: 'shared' },
          '203.0.113.7',
        ),
      ),
    );
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(25);
  });
});

describe('logins under load', () => {
  let t: TestSilo;
  let tokenB: string;

  beforeAll(async () => {
    t = await createTestSilo({
      env: {
        SILO_POOL_PER_COMPANY: '3',
        SILO_POOL_SERVER_BUDGET: '3',
        SILO_LOGIN_MAX_CONCURRENT: '50',
        SILO_LOGIN_MAX_CONCURRENT_PER_COMPANY: '50',
      },
    });
    for (const slug of ['load-a', 'load-b']) {
      const created = await t.call('POST', '/api/companies', {
        token: t.adminToken,
        body: { name: slug, slug, admin: { email: `boss@${slug}.test`, password: 'boss-password' } },
      });
      expect(created.status).toBe(201);
    }
    const login = await t.call('POST', '/api/auth/login', {
      token: null,
      body: { email: 'boss@load-b.test', password: 'boss-password', company: 'load-b' },
    });
    tokenB = login.body.token;
  });
  afterAll(async () => {
    await t?.close();
  });

  it("does not hold a company's pool while its logins wait for bcrypt", async () => {
    // Many logins for company A queue for the bcrypt workers; with a server budget of one pool, B's
    // request must wait until A's pool has ended, which it does once nothing runs on it.
    let lastLoginDone = 0;
    const logins = Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        t
          .call('POST', '/api/auth/login', {
            token: null,
            body: { email: `x${i}@load-a.test`, password: 'wrong-password', company: 'load-a' },
          })
          .then((res) => {
            lastLoginDone = performance.now();
            return res.status;
          }),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const res = await t.call('GET', '/api/users', { token: tokenB });
    const requestDone = performance.now();
    expect(res.status).toBe(200);
    expect(await logins).toEqual(Array(40).fill(401));
    expect(requestDone).toBeLessThan(lastLoginDone);
  });

  it('sheds logins past SILO_LOGIN_MAX_CONCURRENT with 503 and Retry-After', async () => {
    const small = await createTestSilo({ env: { SILO_LOGIN_MAX_CONCURRENT: '2' } });
    try {
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => small.call('POST', '/api/auth/login', { token: null, body: ADMIN })),
      );
      const shed = answers.filter((a) => a.status === 503);
      expect(answers.filter((a) => a.status === 200)).toHaveLength(2);
      expect(shed).toHaveLength(8);
      expect(shed[0]!.headers.get('retry-after')).toBe('1');
      expect(shed[0]!.body.error.code).toBe('unavailable');
    } finally {
      await small.close();
    }
  });
});
