// JWT signing keys with kid: `silo secrets rotate-jwt-key` adds a key; tokens signed by the
// previous one keep working until they expire; new tokens carry the new kid and work on every
// instance (two Silo apps on one management database) without a restart.
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { eq, sql } from 'drizzle-orm';
import { decodeProtectedHeader, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { configuredKid } from '../src/control-plane/signing-keys.ts';
import { openSilo, type Silo } from '../src/bootstrap.ts';
import { runCli } from '../src/cli/main.ts';
import { jwtSigningKeys } from '../src/control-plane/schema.ts';
import { sealedAt } from '../src/base/crypto/credentials.ts';
import { createApp } from '../src/http/app.ts';
import { cliEnvOf, createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
let other: Silo;
let otherApp: ReturnType<typeof createApp>;
let adminId: string;
let configuredSecret: Uint8Array;

/** The status of GET /api/auth/me with a token, on this instance and on the other. */
async function meOnBoth(token: string) {
  const here = await t.call('GET', '/api/auth/me', { token });
  const there = await otherApp.request('/api/auth/me', { headers: { authorization: `Bearer ${token}` } });
  return [here.status, there.status];
}

const kidOf = (token: string) => decodeProtectedHeader(token).kid;

/** A system admin token signed by hand: any key, any header. */
function signed(secret: Uint8Array, header: Record<string, unknown>) {
  return new SignJWT({ role: 'system_admin' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...header })
    .setSubject(adminId)
    .setIssuer('silo')
    .setAudience('silo-api')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(secret);
}

async function rotate(...flags: string[]) {
  const out: string[] = [];
  const code = await runCli(['secrets', 'rotate-jwt-key', ...flags], {
    env: cliEnvOf(t),
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => out.push(s) },
  });
  return { code, output: out.join('') };
}

beforeAll(async () => {
  t = await createTestSilo();
  other = await openSilo(t.config, { listen: true, logDestination: new Writable({ write: (_c, _e, done) => done() }) });
  otherApp = createApp(other.ctx);
  adminId = (await t.ctx.tokens.verify(t.adminToken)).sub;
  configuredSecret = new TextEncoder().encode(readFileSync(`${t.config.dataDir}/jwt-secret`, 'utf8').trim());
});
afterAll(async () => {
  await other?.close();
  await t?.close();
});

describe('JWT signing keys', () => {
  it('keeps tokens of the previous key valid after a rotation, and signs new ones with the new key on every instance', async () => {
    const before = t.adminToken;
    expect(kidOf(before)).toBe(configuredKid(configuredSecret));
    // A token from before kids existed: signed with the configured secret, no kid.
    const noKid = await signed(configuredSecret, {});
    for (const token of [before, noKid]) expect(await meOnBoth(token)).toEqual([200, 200]);

    const rotated = await rotate();
    expect(rotated.code).toBe(0);
    const kid = /^new JWT signing key: ([A-Za-z0-9_-]+)\n$/.exec(rotated.output)?.[1];
    expect(kid).toBeDefined();
    // The key itself is printed nowhere, nor logged.
    const [row] = await t.ctx.db.select().from(jwtSigningKeys).where(eq(jwtSigningKeys.kid, kid!));
    const key = t.ctx.box.open(row!.keyEncrypted!, sealedAt.jwtSigningKey(row!.id));
    expect(rotated.output).not.toContain(key);
    expect(t.logs.join('')).not.toContain(key);

    // Both instances sign with the new key once the rotation's notification reaches them.
    await vi.waitFor(async () => {
      expect(kidOf((await t.ctx.tokens.issue({ sub: adminId, role: 'system_admin' })).token)).toBe(kid);
      expect(kidOf((await other.ctx.tokens.issue({ sub: adminId, role: 'system_admin' })).token)).toBe(kid);
    });
    const fromHere = (await t.ctx.tokens.issue({ sub: adminId, role: 'system_admin' })).token;
    const fromThere = (await other.ctx.tokens.issue({ sub: adminId, role: 'system_admin' })).token;
    for (const token of [fromHere, fromThere, before, noKid]) expect(await meOnBoth(token)).toEqual([200, 200]);
    // Logging in hands out a token of the new key too.
    const login = await t.call('POST', '/api/auth/login', {
      token: null,
      body: { email: 'ops@silo.test', password: 'correct-horse-battery' },
    });
    expect(kidOf(login.body.token)).toBe(kid);
  });

  it('accepts a key added while an instance missed the notification, once it sees a token naming it', async () => {
    // A key added without NOTIFY, as if every instance had been reconnecting at the time.
    const id = randomUUID();
    const kid = `missed${randomBytes(6).toString('hex')}`;
    const secret = randomBytes(48);
    await t.ctx.db
      .insert(jwtSigningKeys)
      .values({ id, kid, keyEncrypted: t.ctx.box.seal(secret.toString('base64url'), sealedAt.jwtSigningKey(id)) });
    expect(await meOnBoth(await signed(secret, { kid }))).toEqual([200, 200]);
  });

  it('reads the keys again after its listening connection was lost, when a rotation may have been missed', async () => {
    const management = new URL(t.config.databaseUrl!).pathname.slice(1);
    const ended = await t.admin`
      select pg_terminate_backend(pid) from pg_stat_activity where datname = ${management} and query ilike 'listen %'`;
    expect(ended.length).toBeGreaterThan(0);
    const id = randomUUID();
    const kid = `offline${randomBytes(6).toString('hex')}`;
    await t.ctx.db
      .insert(jwtSigningKeys)
      .values({ id, kid, keyEncrypted: t.ctx.box.seal(randomBytes(48).toString('base64url'), sealedAt.jwtSigningKey(id)) });
    // No notification, no token naming the key: only the re-subscription tells the instance.
    await vi.waitFor(async () => expect(kidOf((await other.ctx.tokens.issue({ sub: adminId, role: 'system_admin' })).token)).toBe(kid), {
      timeout: 10_000,
      interval: 100,
    });
  });

  it('refuses a token whose kid is unknown, malformed or names another key (401)', async () => {
    const [newest] = await t.ctx.db.select().from(jwtSigningKeys).orderBy(sql`created_at desc`).limit(1);
    const forged = [
      await signed(configuredSecret, { kid: 'no-such-key' }),
      await signed(configuredSecret, { kid: '../../etc/passwd' }),
      await signed(configuredSecret, { kid: 42 }),
      // Signed with the configured secret, but naming the newest key.
      await signed(configuredSecret, { kid: newest!.kid }),
      // Signed with a key of the attacker's, naming the configured one.
      await signed(randomBytes(48), { kid: configuredKid(configuredSecret) }),
    ];
    for (const token of forged) {
      expect(await meOnBoth(token)).toEqual([401, 401]);
      const res = await t.call('GET', '/api/auth/me', { token });
      expect(res.body.error).toMatchObject({ code: 'unauthorized', message: 'invalid token' });
    }
  });

  it('stops accepting a key once its successor is older than the token lifetime, and the next rotation wipes it', async () => {
    // Two token lifetimes pass (the keys' times are moved back instead).
    await t.ctx.db.execute(sql`update jwt_signing_keys set created_at = created_at - interval '2 hours'`);
    const previous = await t.ctx.db.select().from(jwtSigningKeys);
    expect((await rotate('--json')).code).toBe(0);
    const after = await t.ctx.db.select().from(jwtSigningKeys);
    // Every earlier key but the newest was superseded more than SILO_TOKEN_TTL (1 hour) ago.
    const newestBefore = previous.reduce((a, b) => (a.createdAt >= b.createdAt ? a : b));
    for (const row of after) {
      const wiped = previous.some((p) => p.id === row.id) && row.id !== newestBefore.id;
      expect(row.keyEncrypted === null).toBe(wiped);
    }
    // The configured secret was superseded two hours ago: its tokens are refused everywhere.
    await vi.waitFor(async () => expect(await meOnBoth(await signed(configuredSecret, {}))).toEqual([401, 401]));
    expect(await meOnBoth(await signed(configuredSecret, { kid: configuredKid(configuredSecret) }))).toEqual([401, 401]);
  });
});
