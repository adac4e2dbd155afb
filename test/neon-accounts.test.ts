// Silo on a Neon account as it really behaves (the stand-in models each behaviour, with TLS on its
// computes): personal and organisation keys, plan project limits, operations that fail and are
// retried, regions checked at registration, 503 on create, cold starts after a compute suspends,
// Neon's connection-string query, and partial listings when a project is looked up by name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NeonApi } from '../src/providers/neon/api.ts';
import { companyToken } from './support/company-login.ts';
import { startNeonStandIn, type NeonStandIn } from './support/neon-stand-in.ts';
import { createTestSilo, serverUrl, type TestSilo } from './support/test-silo.ts';
import { startWsProxy, type WsProxy } from './support/ws-proxy.ts';

const MAIN = { id: 'org-main-field-11111111', name: 'Main', plan: 'scale' as const, regions: ['aws-us-east-2', 'aws-eu-central-1'] };
const SMALL = { id: 'org-small-field-22222222', name: 'Small', plan: 'free' as const, projectLimit: 1 };
const PASSWORD = 'neon-accounts-password';
const COLD_START_MS = 1500;

let t: TestSilo;
let neon: NeonStandIn;
let proxy: WsProxy;
let mainServer: string;

beforeAll(async () => {
  neon = await startNeonStandIn({
    adminUrl: serverUrl(),
    operationMs: 200,
    organizations: [MAIN, SMALL],
    tls: true,
    coldStartMs: COLD_START_MS,
  });
  proxy = await startWsProxy();
  // A 1 s connect timeout for tenant pools: shorter than the stand-in's cold start, as Neon's can be
  // longer than the 3 s default.
  t = await createTestSilo({
    env: { SILO_NEON_WS_PROXY: proxy.wsProxy, SILO_DB_CA_FILE: neon.caFile!, SILO_TENANT_CONNECT_TIMEOUT: '1' },
  });
});

afterAll(async () => {
  await t?.close();
  await neon?.close();
  await proxy?.close();
});

async function register(body: Record<string, unknown>) {
  return t.call('POST', '/api/servers', { token: t.adminToken, body: { provider: 'neon', url: neon.apiUrl, ...body } });
}

async function createOn(serverId: string, slug: string) {
  return t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: `Company ${slug}`, slug, admin: { email: `boss@${slug}.test`, password: PASSWORD }, serverId },
  });
}

const logIn = (slug: string) => companyToken(t, `boss@${slug}.test`, PASSWORD, slug);

const projectOf = (slug: string) => neon.projects().find((p) => p.name.endsWith(`-${slug}`));

describe('registering a neon server', () => {
  it('asks which organisation a personal key of several means, and keeps the one given', async () => {
    const several = await register({ name: 'personal', apiKey: neon.personalKey });
    expect(several.status).toBe(400);
    expect(several.body.error).toMatchObject({ code: 'validation_failed', details: [{ path: 'neon.orgId' }] });
    expect(several.body.error.message).toContain(MAIN.id);
    expect(several.body.error.message).toContain(SMALL.id);
    expect(several.text).not.toContain(neon.personalKey);

    const named = await register({ name: 'personal', apiKey: neon.personalKey, neon: { orgId: MAIN.id } });
    expect(named.status).toBe(201);
    mainServer = named.body.id;
    // A Scale plan allows 1,000 projects: the server's capacity, when none is given.
    expect(named.body.capacity).toBe(1000);
    expect((await createOn(mainServer, 'personal-one')).status).toBe(201);
    expect(projectOf('personal-one')?.orgId).toBe(MAIN.id);

    // The same organisation and region through the same API, by either key, is registered once:
    // refused before Neon is asked when the organisation is given, after it is found otherwise.
    const host = new URL(neon.apiUrl).host;
    const asked = neon.requests.length;
    const again = await register({ name: 'again', apiKey: neon.personalKey, neon: { orgId: MAIN.id } });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toBe(
      `Neon organization ${MAIN.id} through ${host} is already registered as server "personal"; change that server instead (PATCH /api/servers/:id, silo servers update)`,
    );
    expect(neon.requests.length).toBe(asked);
    const orgKey = await register({ name: 'again', apiKey: neon.apiKey });
    expect(orgKey.status).toBe(409);
    expect(orgKey.body.error.message).toContain('already registered as server "personal"');
    expect(orgKey.text).not.toContain(neon.apiKey);
  });

  it('finds the organisation of a key that has one, and answers Neon refusals as client errors', async () => {
    const single = await startNeonStandIn({ adminUrl: serverUrl(), operationMs: 50 });
    try {
      const added = await t.call('POST', '/api/servers', {
        token: t.adminToken,
        body: { name: 'single-org', provider: 'neon', url: single.apiUrl, apiKey: single.personalKey },
      });
      expect(added.status).toBe(201);
      expect(added.body.capacity).toBe(100); // a Free plan's project limit
      expect((await createOn(added.body.id, 'single-org-one')).status).toBe(201);
      expect(single.projects().map((p) => p.orgId)).toEqual([single.organizations[0]!.id]);
      await t.call('PATCH', `/api/servers/${added.body.id}`, { token: t.adminToken, body: { status: 'disabled' } });
    } finally {
      await single.close();
    }
    const notMine = await register({ name: 'not-mine', apiKey: neon.apiKey, neon: { orgId: SMALL.id } });
    expect(notMine.status).toBe(400);
    expect(notMine.body.error.code).toBe('validation_failed');
  });

  it('checks the region against those open to the organisation', async () => {
    for (const regionId of ['aws-us-west-2', 'mars-north-1']) {
      const refused = await register({ name: 'region', apiKey: neon.apiKey, neon: { regionId } });
      expect(refused.status, regionId).toBe(400);
      expect(refused.body.error).toMatchObject({ code: 'validation_failed', details: [{ path: 'neon.regionId' }] });
      expect(refused.body.error.message).toContain('aws-eu-central-1');
    }
    // Another region of the same organisation is another place.
    const accepted = await register({ name: 'region', apiKey: neon.apiKey, neon: { regionId: 'aws-eu-central-1' } });
    expect(accepted.status).toBe(201);
    await t.call('PATCH', `/api/servers/${accepted.body.id}`, { token: t.adminToken, body: { status: 'disabled' } });
  });
});

describe('companies on Neon', () => {
  it('are created through a 503 on the create, which Neon says is always safe to retry', async () => {
    neon.failNext(1, 503);
    expect((await createOn(mainServer, 'after-503')).status).toBe(201);
    const creates = neon.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/projects')).map((r) => r.status);
    expect(creates.slice(-2)).toEqual([503, 201]);
  });

  it('wait out an operation that fails and is retried, and report one that ends in error with its failures', async () => {
    neon.failOperations(1, 'retried');
    const retried = await createOn(mainServer, 'op-retried');
    expect(retried.status).toBe(201);
    expect(projectOf('op-retried')).toBeDefined();

    neon.failOperations(1, 'error');
    const broken = await createOn(mainServer, 'op-error');
    expect(broken.status).toBe(503);
    const shown = await t.call('GET', '/api/companies/op-error', { token: t.adminToken });
    expect(shown.body).toMatchObject({ status: 'failed' });
    expect(shown.body.lastError).toMatch(/create_timeline error after 1 failure/);
    // Its project is deleted: an operation in `error` no longer holds the project's lock.
    expect(projectOf('op-error')).toBeUndefined();
  });

  it('stop being placed on a server whose plan project limit Neon reached, and say why', async () => {
    const small = await register({ name: 'small', apiKey: neon.personalKey, neon: { orgId: SMALL.id } });
    expect(small.body.capacity).toBe(100);
    expect((await createOn(small.body.id, 'small-one')).status).toBe(201);
    const full = await createOn(small.body.id, 'small-two');
    expect(full.status).toBe(409);
    expect(full.body.error.message).toMatch(/project limit/);
    const listed = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items.find(
      (s: { id: string }) => s.id === small.body.id,
    );
    expect(listed.capacity).toBeLessThanOrEqual(listed.companies);
    const again = await createOn(small.body.id, 'small-three');
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/room/);
    // Only the one refusal reached Neon: placement stopped before asking again.
    const refusals = neon.requests.filter((r) => r.method === 'POST' && r.status === 422);
    expect(refusals).toHaveLength(1);
  });

  it('are served after their compute suspended, through a cold start longer than the tenant connect timeout', async () => {
    expect((await createOn(mainServer, 'cold')).status).toBe(201);
    const token = await logIn('cold');
    expect((await t.call('GET', '/api/documents', { token })).status).toBe(200);
    const compute = neon.compute(projectOf('cold')!.id);
    // The suspend ends the pool's idle connections (57P01); the pool drops them as they end. On
    // Neon that happens minutes before the next request; here, give it a moment.
    await compute.suspend();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const woken = await t.call('GET', '/api/documents', { token });
    expect(woken.status).toBe(200);
    expect(compute.coldStarts).toBe(1);
  });

  it('reach a suspended compute for operations too, through a cold start longer than 5 s', async () => {
    const compute = neon.compute(projectOf('cold')!.id);
    compute.coldStartMs = 5500;
    await compute.suspend();
    const tested = await t.call('GET', '/api/companies/cold/database/test', { token: t.adminToken });
    expect(tested.body).toMatchObject({ ok: true });
    compute.coldStartMs = COLD_START_MS;
  });

  it('use the connection string as Neon writes it: TLS checked against the CA, with SNI, channel_binding not sent', async () => {
    // Operations (postgres.js) went over TLS, certificate checked, and named the host.
    const names = neon.compute(projectOf('personal-one')!.id).serverNames;
    expect(names.length).toBeGreaterThan(0);
    expect(new Set(names)).toEqual(new Set(['localhost']));
  });

  it('are created 16 at once and deleted through Neon rate limits (429 without Retry-After), one project each', async () => {
    const tight = await startNeonStandIn({ adminUrl: serverUrl(), operationMs: 200, rateLimit: { perMinute: 700, perSecondPerRoute: 10 } });
    try {
      const server = await t.call('POST', '/api/servers', {
        token: t.adminToken,
        body: { name: 'tight', provider: 'neon', url: tight.apiUrl, apiKey: tight.apiKey },
      });
      expect(server.status).toBe(201);
      const slugs = Array.from({ length: 16 }, (_, i) => `burst-${i}`);
      const created = await Promise.all(slugs.map((slug) => createOn(server.body.id, slug)));
      expect(created.map((r) => r.status)).toEqual(slugs.map(() => 201));
      expect(tight.requests.filter((r) => r.status === 429).length).toBeGreaterThan(0);
      expect(
        tight
          .projects()
          .map((p) => p.name.replace(/^.*-(burst-\d+)$/, '$1'))
          .sort(),
      ).toEqual([...slugs].sort());
      // Deleted 8 at a time: each delete holds a management connection for its lock while its work
      // needs another, so more deletes at once than the management pool's 10 connections wait on
      // each other for ever (a flaw of the company delete, not of Neon's).
      const deleted = [];
      for (const wave of [slugs.slice(0, 8), slugs.slice(8)]) {
        deleted.push(
          ...(await Promise.all(
            wave.map((slug) => t.call('DELETE', `/api/companies/${slug}`, { token: t.adminToken, headers: { 'x-confirm': slug } })),
          )),
        );
      }
      expect(deleted.map((r) => r.status)).toEqual(slugs.map(() => 200));
      expect(tight.projects()).toEqual([]);
      await t.call('PATCH', `/api/servers/${server.body.id}`, { token: t.adminToken, body: { status: 'disabled' } });
    } finally {
      await tight.close();
    }
  }, 120_000);

  it('answer 409, leaving nothing behind, when the server was registered with a project-scoped key', async () => {
    // In a region of its own: the organisation's default region is registered already.
    const scoped = await register({
      name: 'scoped',
      apiKey: neon.projectKey(projectOf('personal-one')!.id),
      neon: { regionId: 'aws-us-east-2' },
    });
    expect(scoped.status).toBe(201);
    const before = neon.projects().length;
    const refused = await createOn(scoped.body.id, 'scoped-one');
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/organization key/);
    expect(neon.projects()).toHaveLength(before);
    expect((await t.call('GET', '/api/companies/scoped-one', { token: t.adminToken })).body.status).toBe('failed');
    await t.call('PATCH', `/api/servers/${scoped.body.id}`, { token: t.adminToken, body: { status: 'disabled' } });
  });

  it('find a project by name through partial listings, and never count a deleted one', async () => {
    const api = new NeonApi(neon.apiUrl, neon.apiKey);
    const name = 'silo-partly-listed';
    await api.createProject(name, { database: 'db_partly', role: 'r_partly' }, {}, async () => {});
    neon.partialListings(2);
    expect(await api.deleteProjectsNamed(name)).toBe(1);
    expect(neon.projects().map((p) => p.name)).not.toContain(name);
    // Deleted, it is still listed as recoverable for days, and is not found by name again.
    expect(await api.deleteProjectsNamed(name)).toBe(0);
  });
});
