// The system-admin HTTP surface: validation, errors in the contract's shape, tokens, and secrets that
// must never reach a client or a log line.
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSilo, ADMIN, type TestSilo } from './support/test-silo.ts';
import { sealedAt } from '../src/base/crypto/credentials.ts';

let t: TestSilo;
beforeAll(async () => {
  t = await createTestSilo({ env: { SILO_BODY_LIMIT: '4096' } });
});
afterAll(async () => {
  await t?.close();
});

const company = (slug: unknown, extra: Record<string, unknown> = {}) => ({
  name: 'Some Company',
  slug,
  admin: { email: 'admin@example.test' },
  ...extra,
});

// biome-ignore lint/suspicious/noExplicitAny: a JSON answer whose shape is what the test asserts
function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.body).toMatchObject({ error: { code, message: expect.any(String) } });
}

describe('operations', () => {
  it('answers /health, /ready, /openapi.json and /docs without a token', async () => {
    expect((await t.call('GET', '/health', { token: null })).body).toEqual({ status: 'ok' });
    expect((await t.call('GET', '/ready', { token: null })).status).toBe(200);
    const doc = await t.call('GET', '/openapi.json', { token: null });
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining(['/api/companies', '/api/companies/{company}', '/api/servers', '/api/auth/login', '/api/system/status']),
    );
    expect((await t.call('GET', '/docs', { token: null })).status).toBe(200);
  });

  it('answers unknown routes with the error shape', async () => {
    expectError(await t.call('GET', '/api/nothing-here', { token: t.adminToken }), 404, 'not_found');
  });
});

describe('validation', () => {
  const badSlugs = [
    "x'; drop database postgres; --",
    'a"b',
    'Acme',
    'ACME',
    'a',
    '1abc',
    '-abc',
    'abc-',
    'a_b',
    'a b',
    'é-co',
    'a'.repeat(41),
    'postgres',
    'template1',
    'silo',
    'admin',
    'pg-catalog',
    '',
  ];
  it.each(badSlugs)('rejects the slug %j with 400 validation_failed', async (slug) => {
    const res = await t.call('POST', '/api/companies', { token: t.adminToken, body: company(slug) });
    expectError(res, 400, 'validation_failed');
    expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'json.slug' })]));
  });

  it.each([
    ['a non-JSON body', '{"name": '],
    ['a missing admin', { name: 'X', slug: 'valid-slug' }],
    ['a bad admin email', company('valid-slug', { admin: { email: 'not-an-email' } })],
    ['a short admin password', company('valid-slug', { admin: { email: 'a@b.test', password: 'short' } })],
    ['a negative maxUsers', company('valid-slug', { maxUsers: -1 })],
    ['a non-uuid serverId', company('valid-slug', { serverId: 'x' })],
    ['an empty name', company('valid-slug', { name: '' })],
    ['an array body', [1, 2]],
  ])('rejects %s with 400 validation_failed', async (_, body) => {
    expectError(await t.call('POST', '/api/companies', { token: t.adminToken, body }), 400, 'validation_failed');
  });

  it('created nothing for any rejected request', async () => {
    const list = await t.call('GET', '/api/companies?status=failed', { token: t.adminToken });
    expect(list.body.items).toEqual([]);
    const all = await t.call('GET', '/api/companies', { token: t.adminToken });
    expect(all.body.items).toEqual([]);
    const dbs =
      await t.admin`select datname from pg_database where datname like ${`${t.config.dbPrefix}\\_%`} and datname not like ${`${t.config.dbPrefix}\\_\\_%`}`;
    expect(dbs).toEqual([]);
  });

  it('rejects bad list queries and bad patches', async () => {
    expectError(await t.call('GET', '/api/companies?limit=0', { token: t.adminToken }), 400, 'validation_failed');
    expectError(await t.call('GET', '/api/companies?limit=201', { token: t.adminToken }), 400, 'validation_failed');
    expectError(await t.call('GET', '/api/companies?status=bogus', { token: t.adminToken }), 400, 'validation_failed');
    expectError(await t.call('GET', '/api/companies?cursor=garbage', { token: t.adminToken }), 400, 'validation_failed');
    expectError(await t.call('PATCH', '/api/companies/nobody', { token: t.adminToken, body: {} }), 400, 'validation_failed');
    expectError(
      await t.call('PATCH', '/api/companies/nobody', { token: t.adminToken, body: { status: 'deleted' } }),
      400,
      'validation_failed',
    );
    expectError(await t.call('PATCH', '/api/companies/nobody', { token: t.adminToken, body: { name: 'x' } }), 404, 'not_found');
  });

  it('answers 413 for a body over the configured limit', async () => {
    const res = await t.call('POST', '/api/companies', { token: t.adminToken, body: company('big-one', { name: 'x'.repeat(10_000) }) });
    expectError(res, 413, 'payload_too_large');
  });
});

describe('companies', () => {
  it('answers 409 for a slug already taken, and lists with a cursor', async () => {
    for (const slug of ['one', 'two', 'three']) {
      expect((await t.call('POST', '/api/companies', { token: t.adminToken, body: company(slug) })).status).toBe(201);
    }
    expectError(await t.call('POST', '/api/companies', { token: t.adminToken, body: company('two') }), 409, 'conflict');

    const first = await t.call('GET', '/api/companies?limit=2', { token: t.adminToken });
    expect(first.body.items.map((c: { slug: string }) => c.slug)).toEqual(['three', 'two']);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await t.call('GET', `/api/companies?limit=2&cursor=${first.body.nextCursor}`, { token: t.adminToken });
    expect(second.body.items.map((c: { slug: string }) => c.slug)).toEqual(['one']);
    expect(second.body.nextCursor).toBeNull();
    const search = await t.call('GET', '/api/companies?q=thr', { token: t.adminToken });
    expect(search.body.items.map((c: { slug: string }) => c.slug)).toEqual(['three']);
  });

  it('pages through a company log with a cursor, and answers 400 for a cursor it did not hand out', async () => {
    const all = await t.call('GET', '/api/companies/two/logs?limit=100', { token: t.adminToken });
    expect(all.body.items.length).toBeGreaterThan(2);
    const paged: number[] = [];
    let cursor: string | null = null;
    do {
      const page = await t.call('GET', `/api/companies/two/logs?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: t.adminToken });
      expect(page.status).toBe(200);
      paged.push(...page.body.items.map((e: { id: number }) => e.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(paged).toEqual(all.body.items.map((e: { id: number }) => e.id));

    const listCursor = (await t.call('GET', '/api/companies?limit=1', { token: t.adminToken })).body.nextCursor;
    for (const bad of ['bogus', Buffer.from('-1').toString('base64url'), Buffer.from('1.5').toString('base64url'), listCursor]) {
      expectError(await t.call('GET', `/api/companies/two/logs?cursor=${bad}`, { token: t.adminToken }), 400, 'validation_failed');
    }
    expectError(await t.call('GET', '/api/companies?cursor=bogus', { token: t.adminToken }), 400, 'validation_failed');
  });

  it('derives a slug from the name when none is given', async () => {
    const res = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Zeta Widgets, Inc.', admin: { email: 'z@z.test' } },
    });
    expect(res.status).toBe(201);
    expect(res.body.slug).toBe('zeta-widgets-inc');
  });

  it('suspends and reactivates, and refuses a change that does not apply', async () => {
    const suspended = await t.call('PATCH', '/api/companies/one', { token: t.adminToken, body: { status: 'suspended', maxUsers: 5 } });
    expect(suspended.body).toMatchObject({ status: 'suspended', maxUsers: 5 });
    const active = await t.call('PATCH', '/api/companies/one', { token: t.adminToken, body: { status: 'active' } });
    expect(active.body.status).toBe('active');
    await t.call('DELETE', '/api/companies/three', { token: t.adminToken, headers: { 'x-confirm': 'three' } });
    const three = await t.call('GET', '/api/companies/three', { token: t.adminToken });
    expectError(
      await t.call('PATCH', `/api/companies/${three.body.id}`, { token: t.adminToken, body: { status: 'active' } }),
      409,
      'conflict',
    );
  });

  it('reports stats, a database test and the system status', async () => {
    const stats = await t.call('GET', '/api/companies/one/stats', { token: t.adminToken });
    expect(stats.body).toMatchObject({ users: 1, documents: 0, rowsPerTable: { users: 1, documents: 0 } });
    expect(stats.body.databaseSizeBytes).toBeGreaterThan(0);
    const test = await t.call('GET', '/api/companies/two/database/test', { token: t.adminToken });
    expect(test.body).toMatchObject({ ok: true, pendingMigrations: 0, schemaVersion: t.ctx.tenantMigrations.latest });
    const status = await t.call('GET', '/api/system/status', { token: t.adminToken });
    expect(status.body.companies).toMatchObject({ active: 3, deleted: 1 });
    expect(status.body.tenantSchema.versions).toEqual([{ version: t.ctx.tenantMigrations.latest, companies: 3 }]);
    expect(status.body.servers[0]).toMatchObject({ name: 'default', companies: 3 });
  });
});

describe('servers', () => {
  it('lists the default server without its URL', async () => {
    const res = await t.call('GET', '/api/servers', { token: t.adminToken });
    expect(res.status).toBe(200);
    expect(res.body.items[0]).toMatchObject({ name: 'default', provider: 'postgres', status: 'active', reachable: true });
    expect(res.body.items[0].url).toBeUndefined();
  });

  it('validates a new server and refuses one it cannot reach', async () => {
    expectError(
      await t.call('POST', '/api/servers', { token: t.adminToken, body: { name: 'x', url: 'mysql://a@b/c' } }),
      400,
      'validation_failed',
    );
    const unreachable = await t.call('POST', '/api/servers', {
      token: t.adminToken,
      body: { name: 'nowhere', url: 'postgres://silo:hunter2-secret@127.0.0.1:1/postgres' },
    });
    expectError(unreachable, 503, 'unavailable');
    expect(unreachable.text).not.toContain('hunter2-secret');
    expectError(
      await t.call('PATCH', '/api/servers/00000000-0000-0000-0000-000000000000', { token: t.adminToken, body: { status: 'draining' } }),
      404,
      'not_found',
    );
  });

  it('stops placing companies on a draining server', async () => {
    const [server] = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items;
    expect((await t.call('PATCH', `/api/servers/${server.id}`, { token: t.adminToken, body: { status: 'draining' } })).body.status).toBe(
      'draining',
    );
    expectError(await t.call('POST', '/api/companies', { token: t.adminToken, body: company('nowhere-to-go') }), 409, 'conflict');
    await t.call('PATCH', `/api/servers/${server.id}`, { token: t.adminToken, body: { status: 'active' } });
  });
});

describe('tokens', () => {
  const claims = { role: 'system_admin' };

  async function adminId() {
    const me = await t.call('GET', '/api/auth/me', { token: t.adminToken });
    return me.body.user.id as string;
  }

  it('logs a system admin in, by JSON and by the OAuth2 password grant', async () => {
    const login = await t.call('POST', '/api/auth/login', { token: null, body: ADMIN });
    expect(login.status).toBe(200);
    expect(login.body).toMatchObject({ tokenType: 'Bearer', user: { email: ADMIN.email, role: 'system_admin' }, company: null });
    const me = await t.call('GET', '/api/auth/me', { token: login.body.token });
    expect(me.body.user.email).toBe(ADMIN.email);

    const form = await t.app.request('/api/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: ADMIN.email, password: ADMIN.password }).toString(),
    });
    expect(form.status).toBe(200);
    expect(await form.json()).toMatchObject({ token_type: 'bearer', expires_in: expect.any(Number), access_token: expect.any(String) });
  });

  it('answers the same invalid_credentials for an unknown email, a wrong password and an unknown company', async () => {
    for (const body of [
      { email: 'nobody@silo.test', password: ADMIN.password },
      { email: ADMIN.email, password: 'wrong-password' },
      { email: ADMIN.email, password: ADMIN.password, company: 'no-such-company' },
    ]) {
      const res = await t.call('POST', '/api/auth/login', { token: null, body });
      expectError(res, 401, 'invalid_credentials');
      expect(res.body.error.message).toBe('the email, password or company is not right');
    }
  });

  it('refuses a missing, malformed, expired, foreign-key or unsigned token with 401', async () => {
    const sub = await adminId();
    const other = new TextEncoder().encode('another-secret-that-is-32-bytes-long!!');
    const expired = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setIssuer('silo')
      .setAudience('silo-api')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode('x'.repeat(32)));
    const foreign = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setIssuer('silo')
      .setAudience('silo-api')
      .setExpirationTime('1h')
      .sign(other);
    const unsigned = new UnsecuredJWT(claims).setSubject(sub).setIssuer('silo').setAudience('silo-api').setExpirationTime('1h').encode();
    for (const token of [null, 'garbage', expired, foreign, unsigned, `${t.adminToken}x`]) {
      expectError(await t.call('GET', '/api/companies', { token }), 401, 'unauthorized');
    }
    const noBearer = await t.app.request('/api/companies', { headers: { authorization: t.adminToken } });
    expect(noBearer.status).toBe(401);
  });

  it('refuses a token with our key but the wrong audience, or no expiry', async () => {
    const sub = await adminId();
    // The secret is the one this Silo generated into its data dir.
    const { readFileSync } = await import('node:fs');
    const secret = new TextEncoder().encode(readFileSync(`${t.config.dataDir}/jwt-secret`, 'utf8').trim());
    const wrongAudience = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setIssuer('silo')
      .setAudience('elsewhere')
      .setExpirationTime('1h')
      .sign(secret);
    const noExpiry = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setIssuer('silo')
      .setAudience('silo-api')
      .sign(secret);
    const good = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setIssuer('silo')
      .setAudience('silo-api')
      .setExpirationTime('1h')
      .sign(secret);
    expectError(await t.call('GET', '/api/companies', { token: wrongAudience }), 401, 'unauthorized');
    expectError(await t.call('GET', '/api/companies', { token: noExpiry }), 401, 'unauthorized');
    expect((await t.call('GET', '/api/companies', { token: good })).status).toBe(200);
  });

  it("refuses a company user's token on system-admin routes with 403", async () => {
    const created = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: company('member-co', { admin: { email: 'boss@member.test', password: 'boss-password' } }),
    });
    expect(created.status).toBe(201);
    const login = await t.call('POST', '/api/auth/login', {
      token: null,
      body: { email: 'boss@member.test', password: 'boss-password', company: 'member-co' },
    });
    expect(login.status).toBe(200);
    expectError(await t.call('GET', '/api/companies', { token: login.body.token }), 403, 'forbidden');
    expectError(await t.call('GET', '/api/system/status', { token: login.body.token }), 403, 'forbidden');
    const me = await t.call('GET', '/api/auth/me', { token: login.body.token });
    expect(me.body).toMatchObject({ user: { email: 'boss@member.test', role: 'company_admin' }, company: { slug: 'member-co' } });
  });
});

describe('secrets', () => {
  it('never appear in a response or a log line', async () => {
    // Everything this file did is in t.logs; collect every secret this Silo holds.
    const rows = await t.ctx.db.query.companies.findMany();
    const rolePasswords = rows
      .filter((r) => r.credentialsEncrypted)
      .map((r) => t.ctx.box.open(r.credentialsEncrypted!, sealedAt.companyCredentials(r.id)));
    const serverUrl = t.config.databaseUrl!;
    const serverPassword = decodeURIComponent(new URL(serverUrl).password);
    const { readFileSync } = await import('node:fs');
    const jwtSecret = readFileSync(`${t.config.dataDir}/jwt-secret`, 'utf8').trim();
    const masterKey = readFileSync(`${t.config.dataDir}/master-key`, 'utf8').trim();
    const secrets = [...rolePasswords, serverUrl, jwtSecret, masterKey, ADMIN.password, 'boss-password', 'hunter2-secret'];
    if (serverPassword) secrets.push(serverPassword);
    expect(rolePasswords.length).toBeGreaterThan(2);

    const responses = await Promise.all([
      t.call('GET', '/api/companies?limit=200', { token: t.adminToken }),
      t.call('GET', '/api/companies/one', { token: t.adminToken }),
      t.call('GET', '/api/companies/one/logs', { token: t.adminToken }),
      t.call('GET', '/api/servers', { token: t.adminToken }),
      t.call('GET', '/api/system/status', { token: t.adminToken }),
      t.call('GET', '/openapi.json', { token: null }),
    ]);
    const everything = [...responses.map((r) => r.text), ...t.logs].join('\n');
    expect(t.logs.length).toBeGreaterThan(10);
    for (const secret of secrets) expect(everything).not.toContain(secret);
    expect(everything).not.toMatch(/postgres(ql)?:\/\//);
  });
});
