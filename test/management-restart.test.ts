// The management database restarted while 16 clients work: /ready answers 503 and comes back,
// companies whose rows are cached keep being served from their own databases, nothing answers 500,
// and once it is back everything (changes published with NOTIFY included) works without a restart.
// The management database gets an embedded PostgreSQL of its own here, so that stopping it leaves
// the shared test server (which holds the tenant databases) running.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openSilo, type Silo } from '../src/bootstrap.ts';
import { loadConfig } from '../src/base/config/config.ts';
import { type EmbeddedServer, startEmbeddedPostgres } from '../src/base/embedded/embedded-postgres.ts';
import { createApp } from '../src/http/app.ts';
import { createLogger } from '../src/base/logger.ts';
import { tenantNamePattern, templateNames } from '../src/base/names.ts';
import { createSystemAdmin } from '../src/control-plane/system-users.ts';
import { ADMIN, randomName, serverUrl } from './support/test-silo.ts';

const PASSWORD = 'boss-password';
const prefix = `r${randomName(7)}`;
let managementDir: string;
let dataDir: string;
let management: EmbeddedServer | undefined;
let silo: Silo;
let app: ReturnType<typeof createApp>;
let adminToken: string;

async function call(method: string, path: string, token: string | null, body?: unknown) {
  const res = await app.request(path, {
    method,
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, text, body: text.startsWith('{') ? JSON.parse(text) : undefined };
}

/** Whether `check` comes true within `ms`, asked every 250 ms (a deadline, not a count of tries). */
async function within(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(250);
  }
}

beforeAll(async () => {
  managementDir = mkdtempSync(join(tmpdir(), 'silo-mgmt-'));
  dataDir = mkdtempSync(join(tmpdir(), 'silo-mgmt-data-'));
  management = await startEmbeddedPostgres(managementDir);
  const url = new URL(management.url);
  url.pathname = '/silo_management';
  const bootstrap = postgres(management.url, { max: 1, onnotice: () => {} });
  await bootstrap`create database silo_management`;
  await bootstrap.end();
  const config = loadConfig({ DATABASE_URL: url.toString(), SILO_DATA_DIR: dataDir, SILO_DB_PREFIX: prefix, SILO_LOG_LEVEL: 'silent' });
  silo = await openSilo(config, { listen: true, prepareTemplates: true, log: createLogger('silent') });
  app = createApp(silo.ctx);
  const admin = await createSystemAdmin(silo.ctx, ADMIN);
  adminToken = (await silo.ctx.tokens.issue({ sub: admin.id, role: 'system_admin' })).token;
});

afterAll(async () => {
  await silo?.close();
  const admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
  const pattern = tenantNamePattern(prefix);
  for (const { datname } of await admin<{ datname: string }[]>`
      select datname from pg_database where datname like ${pattern.like} or datname = ${templateNames(prefix).database}`) {
    await admin`drop database if exists ${admin(datname)} with (force)`;
  }
  for (const { rolname } of await admin<{ rolname: string }[]>`
      select rolname from pg_roles where rolname like ${pattern.like} or rolname = ${templateNames(prefix).owner}`) {
    await admin`drop role if exists ${admin(rolname)}`;
  }
  await admin.end();
  await management?.stop();
  for (const dir of [managementDir, dataDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

it('answers /ready 503 while it is down, keeps serving cached companies, and needs no restart', async () => {
  // Companies live on the shared test server, registered as a second database server.
  const server = await call('POST', '/api/servers', adminToken, { name: 'tenants', url: serverUrl() });
  expect(server.status, server.text).toBe(201);
  const tenants: { id: string; token: string }[] = [];
  for (const slug of ['alpha', 'beta', 'gamma']) {
    const created = await call('POST', '/api/companies', adminToken, {
      name: slug,
      slug,
      serverId: server.body.id,
      admin: { email: `boss@${slug}.test`, password: PASSWORD },
    });
    expect(created.status, created.text).toBe(201);
    const login = await call('POST', '/api/auth/login', null, { email: `boss@${slug}.test`, password: PASSWORD, company: slug });
    tenants.push({ id: created.body.id, token: login.body.token });
  }

  const statuses: { at: number; status: number }[] = [];
  const unexpected: string[] = [];
  const served = new Set<string>();
  let running = true;
  const client = async (n: number) => {
    for (let i = 0; running; i++) {
      const tenant = tenants[(n + i) % tenants.length]!;
      const res =
        i % 2 === 0
          ? await call('GET', '/api/documents', tenant.token)
          : await call('POST', '/api/documents', tenant.token, { title: `c${n}-${i}`, content: 'x' });
      statuses.push({ at: Date.now(), status: res.status });
      if (res.status === 200 || res.status === 201) served.add(tenant.id);
      if (![200, 201, 503].includes(res.status)) unexpected.push(`${res.status} ${res.text}`);
      await sleep(res.status === 503 ? 50 : 5);
    }
  };
  const clients = Array.from({ length: 16 }, (_, n) => client(n));
  // The outage begins once every company has been served (its row is then cached), not after a
  // fixed pause: on a loaded machine the first answers can take longer than any pause chosen here.
  await sleep(500);
  expect(await within(30_000, async () => served.size === tenants.length)).toBe(true);

  await management!.stop();
  management = undefined;
  const outageStart = Date.now();
  const ready = await call('GET', '/ready', null);
  expect(ready.status).toBe(503);
  expect(ready.body.error.code).toBe('unavailable');
  // Longer than the registry cache's TTL (SILO_REGISTRY_TTL_MS, 5 s by default).
  await sleep(7000);
  // The outage's last two seconds: every cached row is past its TTL by then.
  const lateInOutage = statuses.filter((s) => s.at > outageStart + 5500 && s.at < outageStart + 7000).map((s) => s.status);

  management = await startEmbeddedPostgres(managementDir);
  const readyAgain = await within(30_000, async () => (await call('GET', '/ready', null)).status === 200);
  await sleep(1000);
  running = false;
  await Promise.all(clients);

  expect(readyAgain).toBe(true);
  expect(unexpected).toEqual([]);
  // Companies known before the outage were served from their own databases throughout it, also past
  // the registry cache's TTL.
  expect(lateInOutage.length).toBeGreaterThan(0);
  expect(lateInOutage.filter((s) => s !== 200 && s !== 201)).toEqual([]);

  // After it is back: the system-admin API works, and a change reaches the instance's cache (LISTEN
  // reconnected): a suspended company's user is refused at once.
  const suspended = await call('PATCH', `/api/companies/${tenants[0]!.id}`, adminToken, { status: 'suspended' });
  expect(suspended.status, suspended.text).toBe(200);
  expect((await call('GET', '/api/documents', tenants[0]!.token)).status).toBe(403);
  expect((await call('GET', '/api/documents', tenants[1]!.token)).status).toBe(200);
}, 120_000);
