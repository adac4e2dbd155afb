// What the Neon stand-in (test/support/neon-stand-in.ts) models beyond the API's shapes, checked
// with the real @neondatabase/api-client, postgres.js and @neondatabase/serverless: API keys and
// organisations, plan project limits, regions, rate limits, retried and failed operations, partial
// listings, soft delete, compute suspend and cold starts, and TLS with SNI on the computes.
import { readFileSync } from 'node:fs';
import { createApiClient, type Api, type Operation } from '@neondatabase/api-client';
import { neonConfig, Pool } from '@neondatabase/serverless';
import postgres from 'postgres';
import ws from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORG_ID_REQUIRED } from './support/neon-accounts.ts';
import { failure } from './support/api-failure.ts';
import { startNeonStandIn, type NeonStandIn } from './support/neon-stand-in.ts';
import { serverUrl } from './support/test-silo.ts';
import { startWsProxy, type WsProxy } from './support/ws-proxy.ts';

neonConfig.webSocketConstructor = ws;
neonConfig.useSecureWebSocket = false;
neonConfig.forceDisablePgSSL = true;
neonConfig.pipelineConnect = false;

const ORGS = [
  { id: 'org-first-field-11111111', name: 'First', plan: 'free' as const, projectLimit: 2, regions: ['aws-us-east-2', 'aws-eu-central-1'] },
  { id: 'org-second-field-22222222', name: 'Second', plan: 'scale' as const },
];
let neon: NeonStandIn;
let proxy: WsProxy;
const stopLater: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  neon = await startNeonStandIn({ adminUrl: serverUrl(), operationMs: 300, organizations: ORGS, coldStartMs: 400, suspendAfterMs: 60_000 });
  proxy = await startWsProxy();
  neonConfig.wsProxy = proxy.wsProxy;
});

afterAll(async () => {
  for (const s of stopLater) await s.close();
  await neon?.close();
  await proxy?.close();
});

const client = (apiKey: string, standIn = neon): Api<unknown> => createApiClient({ apiKey, baseURL: standIn.apiUrl });

/** Polls the operations until all are out of scheduling/running/failed; every status seen is kept. */
async function watch(api: Api<unknown>, projectId: string, operations: Operation[], seen: Set<string>): Promise<Operation[]> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    const now = await Promise.all(operations.map(async (o) => (await api.getProjectOperation(projectId, o.id)).data.operation));
    for (const o of now) seen.add(o.status);
    if (now.every((o) => !['scheduling', 'running', 'failed'].includes(o.status))) return now;
    await new Promise((resolve) => setTimeout(resolve, 60));
  }
  throw new Error('operations did not end');
}

describe('keys and organisations', () => {
  it('a personal key must name its organisation; an organisation key implies it; a project key reaches one project', async () => {
    const personal = client(neon.personalKey);
    for (const call of [personal.listProjects({}), personal.createProject({ project: {} })]) {
      expect(await failure(call)).toMatchObject({ status: 400, data: { message: ORG_ID_REQUIRED } });
    }
    const orgs = await personal.getCurrentUserOrganizations();
    expect(orgs.data.organizations.map((o) => [o.id, o.plan])).toEqual([
      [ORGS[0]!.id, 'free'],
      [ORGS[1]!.id, 'scale'],
    ]);
    const made = await personal.createProject({ project: { org_id: ORGS[1]!.id, name: 'in-second' } });
    expect(made.data.project.org_id).toBe(ORGS[1]!.id);

    const orgKey = client(neon.apiKey);
    expect((await orgKey.getCurrentUserOrganizations()).data.organizations.map((o) => o.id)).toEqual([ORGS[0]!.id]);
    expect((await orgKey.listProjects({})).data.projects.map((p) => p.id)).not.toContain(made.data.project.id);
    expect((await failure(orgKey.listProjects({ org_id: ORGS[1]!.id }))).status).toBe(403);

    const projectKey = client(neon.projectKey(made.data.project.id));
    expect((await projectKey.getCurrentUserOrganizations()).data.organizations.map((o) => o.id)).toEqual([ORGS[1]!.id]);
    expect((await projectKey.listProjects({})).data.projects.map((p) => p.id)).toEqual([made.data.project.id]);
    expect((await failure(projectKey.createProject({ project: {} }))).status).toBe(403);
    await watch(personal, made.data.project.id, made.data.operations, new Set());
    expect((await failure(projectKey.deleteProject(made.data.project.id))).status).toBe(403);
    await personal.deleteProject(made.data.project.id);
  });

  it('lists the regions an organisation may use and refuses the others; stops at the plan project limit with 422', async () => {
    const api = client(neon.apiKey);
    const regions = await api.getActiveRegions({ org_id: ORGS[0]!.id });
    expect(regions.data.regions.map((r) => r.region_id)).toEqual(['aws-us-east-2', 'aws-eu-central-1']);
    expect((await failure(api.createProject({ project: { region_id: 'aws-us-west-2' } }))).status).toBe(400);

    const made = [await api.createProject({ project: {} }), await api.createProject({ project: {} })];
    const over = await failure(api.createProject({ project: {} }));
    expect(over).toMatchObject({ status: 422, data: { code: 'PROJECTS_LIMIT_EXCEEDED' } });
    for (const m of made) await watch(api, m.data.project.id, m.data.operations, new Set());
    await api.deleteProject(made[0]!.data.project.id);
    // A deleted project is recoverable for 7 days, listed only when asked for, and no longer counted.
    const recoverable = await api.listProjects({ recoverable: true });
    expect(recoverable.data.projects).toEqual([
      expect.objectContaining({ id: made[0]!.data.project.id, deleted_at: expect.any(String), recoverable_until: expect.any(String) }),
    ]);
    expect((await api.listProjects({})).data.projects.map((p) => p.id)).toEqual([made[1]!.data.project.id]);
    const third = await api.createProject({ project: {} });
    await watch(api, third.data.project.id, third.data.operations, new Set());
    for (const id of [made[1]!.data.project.id, third.data.project.id]) await api.deleteProject(id);
  });

  it('answers a listing partially when asked to, naming the projects it could not fetch', async () => {
    const api = client(neon.apiKey);
    const made = await api.createProject({ project: { name: 'partly-listed' } });
    expect((await failure(api.listProjects({ timeout: 50 }))).status).toBe(400);
    neon.partialListings(1);
    const partial = await api.listProjects({ search: 'partly-listed', timeout: 1000 });
    expect(partial.data).toMatchObject({ projects: [], unavailable_project_ids: [made.data.project.id] });
    expect((await api.listProjects({ search: 'partly-listed' })).data.projects.map((p) => p.id)).toEqual([made.data.project.id]);
    await watch(api, made.data.project.id, made.data.operations, new Set());
    await api.deleteProject(made.data.project.id);
  });
});

describe('rate limits', () => {
  it('answers 429 without Retry-After past the per-route burst and the per-minute budget', async () => {
    const limited = await startNeonStandIn({ adminUrl: serverUrl(), rateLimit: { perMinute: 8, perSecondPerRoute: 4 } });
    stopLater.push(limited);
    const api = client(limited.apiKey, limited);
    const burst = await Promise.allSettled(Array.from({ length: 6 }, () => api.listProjects({})));
    expect(burst.filter((r) => r.status === 'fulfilled')).toHaveLength(4);
    const refused = await failure(api.listProjects({}));
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBeUndefined();
    // Another route has a burst of its own, but the minute's budget (8, refused requests included)
    // is shared: 7 spent so far.
    expect((await api.getActiveRegions({})).status).toBe(200);
    expect((await failure(api.getCurrentUserOrganizations())).status).toBe(429);
  });
});

describe('operations', () => {
  it('go scheduling, running, failed (retried), running, finished; or end in error', async () => {
    const api = client(neon.personalKey);
    neon.failOperations(1, 'retried');
    const retried = await api.createProject({ project: { org_id: ORGS[1]!.id } });
    const seen = new Set<string>();
    const ended = await watch(api, retried.data.project.id, retried.data.operations, seen);
    expect([...seen]).toEqual(expect.arrayContaining(['scheduling', 'running', 'failed', 'finished']));
    expect(ended.map((o) => [o.status, o.failures_count])).toEqual([
      ['finished', 1],
      ['finished', 1],
    ]);
    expect(ended[0]!.retry_at).toEqual(expect.any(String));

    neon.failOperations(1, 'error');
    const broken = await api.createProject({ project: { org_id: ORGS[1]!.id } });
    const final = await watch(api, broken.data.project.id, broken.data.operations, new Set());
    expect(final.map((o) => o.status)).toEqual(['error', 'error']);
    expect(final[0]!.error).toEqual(expect.any(String));
    for (const id of [retried.data.project.id, broken.data.project.id]) await api.deleteProject(id);
  });
});

describe('computes', () => {
  it('suspend (terminating sessions), then cold-start on the next connection, through TCP and the ws proxy', async () => {
    const api = client(neon.personalKey);
    const made = await api.createProject({ project: { org_id: ORGS[1]!.id } });
    await watch(api, made.data.project.id, made.data.operations, new Set());
    const uri = made.data.connection_uris[0]!.connection_uri;
    // The session that the suspend terminates is postgres.js's, running a query. The serverless
    // driver's pool is opened only after the suspend, as Silo's clients are opened after a cold
    // start: a serverless client terminated while idle raised an unhandled rejection inside the
    // driver now and then. postgres.js too is opened afresh after the suspend: one left idle across
    // a termination may hang its next query (postgres.js 3.4, seen on a plain local server).
    const before = postgres(uri, { max: 1, onnotice: () => {} });
    let sql: postgres.Sql | undefined;
    let pool: InstanceType<typeof Pool> | undefined;
    try {
      expect(await before`select 1 as n`).toEqual([{ n: 1 }]);
      const compute = neon.compute(made.data.project.id);
      const killed = before`select pg_sleep(5)`.then(() => 'finished');
      // The termination may come while the suspend below is still awaited, before the expectation
      // attaches its handler: without this one, vitest reports it as an unhandled rejection.
      killed.catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 100));
      await compute.suspend();
      // postgres.js reports the server's FATAL, or the close that follows it when that comes first.
      await expect(killed).rejects.toThrow(/terminating connection due to administrator command|CONNECTION_CLOSED/);
      const started = Date.now();
      sql = postgres(uri, { max: 1, onnotice: () => {} });
      expect(await sql`select 1 as n`).toEqual([{ n: 1 }]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(350);
      pool = new Pool({ connectionString: uri, max: 1 });
      pool.on('error', () => {});
      expect((await pool.query('select 2 as n')).rows).toEqual([{ n: 2 }]);
      expect(compute.coldStarts).toBe(1);
    } finally {
      await before.end({ timeout: 1 }).catch(() => {});
      await sql?.end();
      await pool?.end();
    }
    await api.deleteProject(made.data.project.id);
  });

  it('suspend by themselves after the idle time', async () => {
    const idle = await startNeonStandIn({ adminUrl: serverUrl(), operationMs: 60, suspendAfterMs: 400, coldStartMs: 10 });
    stopLater.push(idle);
    const api = client(idle.apiKey, idle);
    const made = await api.createProject({ project: {} });
    await watch(api, made.data.project.id, made.data.operations, new Set());
    const uri = made.data.connection_uris[0]!.connection_uri;
    const once = async () => {
      const sql = postgres(uri, { max: 1, onnotice: () => {} });
      try {
        return await sql`select 1 as n`;
      } finally {
        await sql.end();
      }
    };
    const compute = idle.compute(made.data.project.id);
    await once();
    expect(compute.state).toBe('active');
    const started = compute.coldStarts; // a slow machine may already have seen one
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect(compute.state).toBe('suspended');
    expect(await once()).toEqual([{ n: 1 }]);
    expect(compute.coldStarts).toBe(started + 1);
  });

  it('with tls: URIs as Neon writes them, TLS terminated with the SNI recorded, the ws proxy path unchanged', async () => {
    const secure = await startNeonStandIn({ adminUrl: serverUrl(), operationMs: 60, tls: true });
    stopLater.push(secure);
    const api = client(secure.apiKey, secure);
    const made = await api.createProject({ project: {} });
    await watch(api, made.data.project.id, made.data.operations, new Set());
    const uri = new URL(made.data.connection_uris[0]!.connection_uri);
    expect(uri.hostname).toBe('localhost');
    expect(uri.search).toBe('?sslmode=require&channel_binding=require');
    const bare = new URL(uri);
    bare.search = '';
    const sql = postgres(bare.toString(), {
      max: 1,
      onnotice: () => {},
      ssl: { ca: readFileSync(secure.caFile!), servername: 'localhost' },
    });
    const pool = new Pool({ connectionString: uri.toString(), max: 1 });
    pool.on('error', () => {}); // an idle client whose compute suspends before the pool ends
    try {
      expect(await sql`select 1 as n`).toEqual([{ n: 1 }]);
      expect((await pool.query('select 1 as n')).rows).toEqual([{ n: 1 }]);
    } finally {
      await sql.end();
      await pool.end();
    }
    expect(secure.compute(made.data.project.id).serverNames).toEqual(['localhost']);
    // The certificate is the stand-in's CA's: a client that trusts only the public CAs refuses it.
    const untrusting = postgres(bare.toString(), { max: 1, onnotice: () => {}, ssl: { rejectUnauthorized: true } });
    await expect(untrusting`select 1`).rejects.toThrow(/certificate/);
    await untrusting.end();
  });
});
