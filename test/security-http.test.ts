// Issue 17 findings 8, 9 and 10: /metrics needs a token, deeply nested JSON answers 400, token
// answers are not cached, browsers get nosniff and /docs a CSP that still lets Swagger UI run, and
// the HTTP server caps its connections.
import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/http/app.ts';
import { serverOptions } from '../src/http/server-limits.ts';
import { ADMIN, createTestSilo, type TestSilo } from './support/test-silo.ts';

const METRICS_TOKEN = 'a-scraper-token-of-at-least-32-characters';

let t: TestSilo;
let companyToken: string;

beforeAll(async () => {
  t = await createTestSilo({ env: { SILO_METRICS_TOKEN: METRICS_TOKEN } });
  const created = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: 'Hardened', slug: 'hardened', admin: { email: 'boss@hardened.test', password: 'boss-password' } },
  });
  expect(created.status).toBe(201);
  const login = await t.call('POST', '/api/auth/login', {
    token: null,
    body: { email: 'boss@hardened.test', password: 'boss-password', company: 'hardened' },
  });
  companyToken = login.body.token;
});
afterAll(async () => {
  await t?.close();
});

describe('/metrics', () => {
  it('needs a system admin token or SILO_METRICS_TOKEN', async () => {
    expect((await t.call('GET', '/metrics', { token: null })).status).toBe(401);
    expect((await t.call('GET', '/metrics', { token: 'not-the-scraper-token-at-all-no-no-no' })).status).toBe(401);
    expect((await t.call('GET', '/metrics', { token: companyToken })).status).toBe(403);
    const scraped = await t.call('GET', '/metrics', { token: METRICS_TOKEN });
    expect(scraped.status).toBe(200);
    expect(scraped.text).toMatch(/^silo_pool_open_pools \d+/m);
    expect((await t.call('GET', '/metrics', { token: t.adminToken })).status).toBe(200);
  });

  it('is served to anyone with SILO_METRICS_OPEN', async () => {
    const open = createApp({ ...t.ctx, config: { ...t.config, metrics: { open: true, token: undefined } } });
    expect((await open.request('/metrics')).status).toBe(200);
  });
});

describe('JSON nesting', () => {
  const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  const post = (metadata: string) =>
    t.call('POST', '/api/documents', { token: companyToken, body: `{"title":"Deep","content":"x","metadata":${metadata}}` });

  it('answers 400 for metadata nested 5,000 deep', async () => {
    const res = await post(nested(5000));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(JSON.stringify(res.body.error.details)).toContain('nest deeper than 64');
  });

  it('takes metadata nested within the limit', async () => {
    expect((await post(nested(60))).status).toBe(201);
  });
});

describe('headers', () => {
  it('answers tokens with Cache-Control: no-store', async () => {
    const login = await t.call('POST', '/api/auth/login', { token: null, body: ADMIN });
    expect(login.headers.get('cache-control')).toBe('no-store');
    const grant = await t.app.request('/api/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: ADMIN.email, password: ADMIN.password }),
    });
    expect(grant.status).toBe(200);
    expect(grant.headers.get('cache-control')).toBe('no-store');
    const invited = await t.call('POST', '/api/invitations', { token: companyToken, body: { email: 'new@hardened.test', role: 'member' } });
    expect(invited.headers.get('cache-control')).toBe('no-store');
    const accepted = await t.call('POST', '/api/invitations/accept', {
      token: null,
      body: { token: invited.body.token, password: 'new-password' },
    });
    expect(accepted.status).toBe(201);
    expect(accepted.headers.get('cache-control')).toBe('no-store');
  });

  it('sends nosniff on answers and errors', async () => {
    expect((await t.call('GET', '/health', { token: null })).headers.get('x-content-type-options')).toBe('nosniff');
    expect((await t.call('GET', '/no-such-route', { token: null })).headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('sends nosniff and the request id over a real socket too, where they are set on the Node response', async () => {
    const server = serve({ fetch: createApp(t.ctx).fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    try {
      await new Promise((resolve) => server.once('listening', resolve));
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const me = await fetch(`${base}/api/auth/me`, {
        headers: { authorization: `Bearer ${companyToken}`, 'x-request-id': 'caller-id-1' },
      });
      expect(me.status).toBe(200);
      expect(me.headers.get('content-type')).toContain('application/json');
      expect(me.headers.get('x-content-type-options')).toBe('nosniff');
      expect(me.headers.get('x-request-id')).toBe('caller-id-1');
      const missing = await fetch(`${base}/no-such-route`);
      expect(missing.status).toBe(404);
      expect(missing.headers.get('x-content-type-options')).toBe('nosniff');
      expect(missing.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      server.close();
    }
  });

  it('gives /docs a CSP that forbids framing and allows exactly its own inline script', async () => {
    const res = await t.app.request('/docs');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const inline = /<script>([\s\S]*?)<\/script>/.exec(await res.text())?.[1];
    expect(inline).toContain('SwaggerUIBundle');
    const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1]?.split(' ') ?? [];
    expect(scriptSrc.sort()).toEqual(["'self'", `'sha256-${createHash('sha256').update(inline!).digest('base64')}'`].sort());
  });
});

describe('the HTTP server', () => {
  it('applies its timeouts and refuses connections past its cap', async () => {
    const app = new Hono().get('/', (c) => c.text('ok'));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', serverOptions }) as Server;
    server.maxConnections = 1;
    try {
      await new Promise((resolve) => server.once('listening', resolve));
      expect(server.headersTimeout).toBe(serverOptions.headersTimeout);
      expect(server.requestTimeout).toBe(serverOptions.requestTimeout);
      const { port } = server.address() as { port: number };
      const first = connect(port, '127.0.0.1');
      await new Promise((resolve) => first.once('connect', resolve));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = connect(port, '127.0.0.1');
      // Past the cap the server closes the new socket without reading from it.
      const answer = await new Promise<string>((resolve) => {
        let data = '';
        second.on('data', (chunk) => {
          data += chunk;
        });
        second.on('close', () => resolve(data));
        second.on('error', () => {});
        second.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      expect(answer).toBe('');
      first.destroy();
    } finally {
      server.close();
    }
  });
});

describe('the password rule', () => {
  // 37 two-byte characters: 37 characters, 74 bytes. bcrypt would read only the first 72 bytes.
  const tooLong = 'ü'.repeat(37);
  const fits = 'ü'.repeat(36);

  it('refuses a password over 72 UTF-8 bytes everywhere one is set, naming the limit', async () => {
    const attempts = [
      t.call('POST', '/api/users', { token: companyToken, body: { email: 'long@hardened.test', role: 'member', password: tooLong } }),
      t.call('POST', '/api/companies', {
        token: t.adminToken,
        body: { name: 'Long', slug: 'long-pw', admin: { email: 'boss@long.test', password: tooLong } },
      }),
    ];
    const me = await t.call('GET', '/api/auth/me', { token: companyToken });
    attempts.push(t.call('PATCH', `/api/users/${me.body.user.id}`, { token: companyToken, body: { password: tooLong } }));
    const invited = await t.call('POST', '/api/invitations', {
      token: companyToken,
      body: { email: 'long-inv@hardened.test', role: 'member' },
    });
    attempts.push(t.call('POST', '/api/invitations/accept', { token: null, body: { token: invited.body.token, password: tooLong } }));
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(JSON.stringify(res.body.error)).toContain('at most 72 bytes');
    }
    expect((await t.call('GET', '/api/companies/long-pw', { token: t.adminToken })).status).toBe(404);
  });

  it('takes a multi-byte password of exactly 72 bytes, and not another one of the same length', async () => {
    const made = await t.call('POST', '/api/users', {
      token: companyToken,
      body: { email: 'fits@hardened.test', role: 'member', password: fits },
    });
    expect(made.status).toBe(201);
    const login = (password: string) =>
      t.call('POST', '/api/auth/login', { token: null, body: { email: 'fits@hardened.test', password, company: 'hardened' } });
    expect((await login(fits)).status).toBe(200);
    expect((await login(`${'ü'.repeat(35)}ö`)).status).toBe(401);
  });
});
