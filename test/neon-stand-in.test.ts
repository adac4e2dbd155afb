// The two stand-ins that let Silo's Neon provider be tested without Neon, exercised with the REAL
// clients: @neondatabase/api-client against test/support/neon-stand-in.ts, and
// @neondatabase/serverless's Pool (over `ws`) through test/support/ws-proxy.ts to the local
// PostgreSQL. If these pass, a Silo test that uses the stand-ins talks to something that behaves
// like Neon where it matters: asynchronous operations, 423 while they run, 401, 429 and 5xx.
import { createApiClient, type Api, type Operation } from '@neondatabase/api-client';
import { neonConfig, Pool } from '@neondatabase/serverless';
import postgres from 'postgres';
import ws from 'ws';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { failure } from './support/api-failure.ts';
import { startNeonStandIn, type NeonStandIn } from './support/neon-stand-in.ts';
import { randomName, serverUrl } from './support/test-silo.ts';
import { startWsProxy, type WsProxy } from './support/ws-proxy.ts';

// What a self-hosted proxy in front of a plain PostgreSQL needs (see the driver's CONFIG.md): ws://
// not wss://, no Postgres-level TLS, and no pipelined connect (that assumes cleartext passwords,
// while the local server asks for SCRAM).
neonConfig.webSocketConstructor = ws;
neonConfig.useSecureWebSocket = false;
neonConfig.forceDisablePgSSL = true;
neonConfig.pipelineConnect = false;

let neon: NeonStandIn;
let proxy: WsProxy;
let api: Api<unknown>;
let admin: postgres.Sql;

beforeAll(async () => {
  // Long enough that the checks made while operations run (a 423, a failed login through the
  // driver, whose first connection in a fresh process is slow) surely happen before they finish.
  neon = await startNeonStandIn({ adminUrl: serverUrl(), operationMs: 1200 });
  proxy = await startWsProxy();
  neonConfig.wsProxy = proxy.wsProxy;
  api = createApiClient({ apiKey: neon.apiKey, baseURL: neon.apiUrl });
  admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
});

afterAll(async () => {
  await neon?.close();
  await proxy?.close();
  await admin?.end();
});

/** Polls each operation, as a Neon client must, until none is still scheduled or running. */
async function waitForOperations(projectId: string, operations: Operation[]): Promise<Operation[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const current = await Promise.all(operations.map(async (o) => (await api.getProjectOperation(projectId, o.id)).data.operation));
    if (current.every((o) => !['scheduling', 'running'].includes(o.status))) return current;
    if (Date.now() > deadline) throw new Error('operations did not finish');
    // Not faster: Neon allows 40 requests a second per route, and the stand-in enforces it.
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

async function existsOnServer(databaseName: string, roleName: string) {
  const [row] = await admin<{ db: boolean; role: boolean }[]>`
    select exists (select 1 from pg_database where datname = ${databaseName}) as db,
           exists (select 1 from pg_roles where rolname = ${roleName}) as role`;
  return row!;
}

function poolFor(uri: string): Pool {
  const pool = new Pool({ connectionString: uri, max: 2, connectionTimeoutMillis: 5000 });
  pool.on('error', () => {}); // an idle client's broken connection must not end the test process
  return pool;
}

describe('Neon API stand-in with the real api-client, databases through the ws proxy', () => {
  it('creates a project asynchronously; its database is reachable through the proxy once the operations finish', async () => {
    const databaseName = `db_${randomName()}`;
    const roleName = `r_${randomName()}`;
    // Held until the checks of "still under way" below are done, however slow the machine is.
    const release = neon.holdOperations();
    onTestFinished(release);
    const created = await api.createProject({
      project: {
        name: 'acme',
        region_id: 'aws-eu-central-1',
        pg_version: 17,
        branch: { database_name: databaseName, role_name: roleName },
      },
    });
    expect(created.status).toBe(201);
    const body = created.data;
    const projectId = body.project.id;
    expect(projectId).toMatch(/^[a-z]+-[a-z]+-\d{8}$/);
    expect(body.project).toMatchObject({ name: 'acme', region_id: 'aws-eu-central-1', platform_id: 'aws', pg_version: 17 });
    expect(body.branch.id).toMatch(/^br-[a-z]+-[a-z]+-[a-z0-9]{8}$/);
    expect(body.endpoints[0]!.id).toMatch(/^ep-[a-z]+-[a-z]+-[a-z0-9]{8}$/);
    // Free names on the local server are used as asked.
    expect(body.databases).toMatchObject([{ name: databaseName, owner_name: roleName, branch_id: body.branch.id }]);
    expect(body.roles).toMatchObject([{ name: roleName, branch_id: body.branch.id }]);
    const connection = body.connection_uris[0]!;
    // Every project has a compute endpoint of its own (a local port in front of the local server).
    const endpoint = body.endpoints[0]!.host;
    expect(endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(connection.connection_parameters).toMatchObject({
      database: databaseName,
      role: roleName,
      host: endpoint,
      pooler_host: endpoint,
    });
    expect(connection.connection_parameters.password).toBe(body.roles[0]!.password);
    const uri = new URL(connection.connection_uri);
    expect(uri.protocol).toBe('postgresql:');
    expect(uri.host).toBe(endpoint);
    expect(uri.pathname).toBe(`/${databaseName}`);
    expect(uri.search).toBe(''); // no sslmode: the local server has no TLS
    expect(neon.projects()).toContainEqual({ id: projectId, name: 'acme', databaseName, roleName, orgId: neon.organizations[0]!.id });

    // Asynchronous, as on Neon: the operations are scheduled and the compute is not up yet.
    expect(body.operations.map((o) => [o.action, o.status])).toEqual([
      ['create_timeline', 'scheduling'],
      ['start_compute', 'scheduling'],
    ]);
    // A write while they run is refused with 423 Locked.
    const locked = await failure(api.deleteProject(projectId));
    expect(locked.status).toBe(423);
    expect(locked.data).toEqual({ code: expect.any(String), message: expect.stringMatching(/running/) });
    expect(await existsOnServer(databaseName, roleName)).toEqual({ db: false, role: false });
    const early = poolFor(connection.connection_uri);
    await expect(early.query('select 1')).rejects.toThrow(/password authentication failed|does not exist/);
    await early.end();
    // ...and that failure was the compute not being up yet: the operations are still under way.
    expect(['scheduling', 'running']).toContain((await api.getProjectOperation(projectId, body.operations[1]!.id)).data.operation.status);

    release();
    const finished = await waitForOperations(projectId, body.operations);
    expect(finished.map((o) => o.status)).toEqual(['finished', 'finished']);
    expect(finished[0]!.total_duration_ms).toBeGreaterThanOrEqual(1200);
    expect((await api.getProject(projectId)).data.project.id).toBe(projectId);
    expect(await existsOnServer(databaseName, roleName)).toEqual({ db: true, role: true });

    // The real serverless driver, through the WebSocket proxy, with the returned connection URI.
    const before = proxy.connectionsOpened();
    const pool = poolFor(connection.connection_uri);
    try {
      const { rows } = await pool.query('select current_database() as db, current_user as who');
      expect(rows).toEqual([{ db: databaseName, who: roleName }]);
      const client = await pool.connect();
      try {
        await client.query('begin');
        await client.query('create table notes (id int primary key, body text)');
        await client.query('insert into notes values ($1, $2), ($3, $4)', [1, 'one', 2, 'two']);
        await client.query('commit');
        await client.query('begin');
        await client.query('insert into notes values (3, $1)', ['rolled back']);
        await client.query('rollback');
      } finally {
        client.release();
      }
      const count = await pool.query('select count(*)::int as n from notes');
      expect(count.rows).toEqual([{ n: 2 }]);
    } finally {
      await pool.end();
    }
    expect(proxy.connectionsOpened()).toBeGreaterThan(before);

    // Delete: 200 with the project, database (even with a session open) and role dropped, then 404.
    const holder = poolFor(connection.connection_uri);
    await holder.query('select 1');
    const deleted = await api.deleteProject(projectId);
    expect(deleted.status).toBe(200);
    expect(deleted.data.project.id).toBe(projectId);
    await holder.end();
    expect(await existsOnServer(databaseName, roleName)).toEqual({ db: false, role: false });
    expect(neon.projects().map((p) => p.id)).not.toContain(projectId);
    expect((await failure(api.getProject(projectId))).status).toBe(404);
    expect((await failure(api.deleteProject(projectId))).status).toBe(404);
    expect((await failure(api.getProjectOperation(projectId, body.operations[0]!.id))).status).toBe(404);
    const missing = await failure(api.getProject('no-such-project-00000000'));
    expect(missing).toMatchObject({ status: 404, data: { code: expect.any(String), message: expect.any(String) } });
  });

  it('gives projects that ask for the same names distinct real databases and roles, and keeps them apart', async () => {
    const [a, b] = await Promise.all([api.createProject({ project: {} }), api.createProject({ project: {} })]);
    const names = [a!, b!].map((r) => ({ db: r.data.databases[0]!.name, role: r.data.roles[0]!.name }));
    for (const { db, role } of names) {
      // Neon's defaults, or (taken on the shared server) the project-prefixed form of them.
      expect(db).toMatch(/^(neondb|neon_[a-z0-9_]+_neondb)$/);
      expect(role).toMatch(/^(neondb_owner|neon_[a-z0-9_]+_neondb_owner)$/);
      expect(Buffer.byteLength(db)).toBeLessThanOrEqual(63);
    }
    expect(names[0]!.db).not.toBe(names[1]!.db);
    expect(names[0]!.role).not.toBe(names[1]!.role);
    expect(a!.data.project.name).toBe(a!.data.project.id); // unnamed: the name is the id, as on Neon
    expect(a!.data.branch.name).toBe('main');

    await Promise.all([a!, b!].map((r) => waitForOperations(r.data.project.id, r.data.operations)));
    // One project's role cannot open the other's database (separate computes on Neon).
    const crossUri = new URL(a!.data.connection_uris[0]!.connection_uri);
    crossUri.pathname = `/${encodeURIComponent(names[1]!.db)}`;
    const cross = poolFor(crossUri.toString());
    await expect(cross.query('select 1')).rejects.toThrow(/permission denied/);
    await cross.end();

    // Listing, with limit and the cursor from the previous page.
    const first = await api.listProjects({ limit: 1 });
    expect(first.data.projects).toHaveLength(1);
    const cursor = first.data.pagination!.cursor;
    const rest = await api.listProjects({ limit: 400, cursor });
    const listed = [...first.data.projects, ...rest.data.projects].map((p) => p.id);
    expect(listed).toEqual(expect.arrayContaining([a!.data.project.id, b!.data.project.id]));
    expect(new Set(listed).size).toBe(listed.length);

    // An organisation key's projects are its organisation's.
    const org = neon.organizations[0]!.id;
    expect(a!.data.project.org_id).toBe(org);
    expect((await api.listProjects({ org_id: org })).data.projects.map((p) => p.id)).toEqual(
      expect.arrayContaining([a!.data.project.id, b!.data.project.id]),
    );

    for (const r of [a!, b!]) await api.deleteProject(r.data.project.id);
  });

  it('validates the create body with 400 { code, message }', async () => {
    const bad = [
      { project: { region_id: 'mars-north-1' } },
      { project: { pg_version: 13 } },
      { project: { name: '' } },
      { project: { branch: { database_name: 'x'.repeat(64) } } },
      { project: { branch: { role_name: 'pg_owner' } } },
      { project: { org_id: 'Not An Org' } },
      {},
    ];
    for (const body of bad) {
      const answer = await failure(api.createProject(body as never));
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.data).toEqual({ code: expect.any(String), message: expect.any(String) });
    }
    const notJson = await fetch(`${neon.apiUrl}/projects`, {
      method: 'POST',
      headers: { authorization: `Bearer ${neon.apiKey}`, 'content-type': 'application/json' },
      body: '{ nope',
    });
    expect(notJson.status).toBe(400);
    expect((await failure(api.listProjects({ limit: 0 }))).status).toBe(400);
    expect(neon.projects()).toEqual([]);
  });

  it('answers 401 without echoing the key when the API key is missing or wrong', async () => {
    const wrongKey = `napi_${randomName(20)}`;
    const wrong = await failure(createApiClient({ apiKey: wrongKey, baseURL: neon.apiUrl }).listProjects({}));
    expect(wrong.status).toBe(401);
    expect(wrong.data).toEqual({ code: expect.any(String), message: expect.any(String) });
    expect(JSON.stringify(wrong.data)).not.toContain(wrongKey);
    expect(JSON.stringify(wrong.data)).not.toContain(neon.apiKey);
    const none = await fetch(`${neon.apiUrl}/projects`);
    expect(none.status).toBe(401);
    expect((await api.listProjects({ limit: 1 })).status).toBe(200);
  });

  it('injects 429 (without Retry-After, as Neon promises none), 423 and 5xx before doing anything, and records every answer', async () => {
    const from = neon.requests.length;
    neon.failNext(2, 429);
    const limited = await failure(api.listProjects({}));
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBeUndefined();
    expect(limited.data).toEqual({ code: expect.any(String), message: expect.any(String) });
    // Injected before authentication: even a bad key sees the 429.
    expect((await failure(createApiClient({ apiKey: 'wrong', baseURL: neon.apiUrl }).listProjects({}))).status).toBe(429);
    expect((await api.listProjects({})).status).toBe(200);

    neon.failNext(1, 423);
    neon.failNext(1, 503);
    neon.failNext(1, 500);
    // Injected failures do no work: this create never happens.
    expect((await failure(api.createProject({ project: { name: 'never' } }))).status).toBe(423);
    expect((await failure(api.listProjects({}))).status).toBe(503);
    expect((await failure(api.listProjects({}))).status).toBe(500);
    expect(neon.projects().map((p) => p.name)).not.toContain('never');

    expect(neon.requests.slice(from)).toEqual([
      { method: 'GET', path: '/api/v2/projects', status: 429 },
      { method: 'GET', path: '/api/v2/projects', status: 429 },
      { method: 'GET', path: '/api/v2/projects', status: 200 },
      { method: 'POST', path: '/api/v2/projects', status: 423 },
      { method: 'GET', path: '/api/v2/projects', status: 503 },
      { method: 'GET', path: '/api/v2/projects', status: 500 },
    ]);
  });

  it('close() drops what it created, even for a project whose operations are still running', async () => {
    const other = await startNeonStandIn({ adminUrl: serverUrl(), operationMs: 50, retryAfterSeconds: 1 });
    const otherApi = createApiClient({ apiKey: other.apiKey, baseURL: other.apiUrl });
    const done = await otherApi.createProject({ project: { branch: { database_name: `db_${randomName()}` } } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const running = await otherApi.createProject({ project: { branch: { database_name: `db_${randomName()}` } } });
    other.failNext(1, 429);
    const limited = await failure(otherApi.listProjects({}));
    expect(limited.headers['retry-after']).toBe('1');
    await other.close();
    for (const r of [done, running]) {
      expect(await existsOnServer(r.data.databases[0]!.name, r.data.roles[0]!.name)).toEqual({ db: false, role: false });
    }
  });
});

describe('ws proxy', () => {
  async function upgradeStatus(url: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const socket = new ws(url);
      socket.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        socket.terminate();
      });
      socket.on('open', () => {
        resolve(101);
        socket.close();
      });
      socket.on('error', (error) => reject(error));
    });
  }

  it('refuses addresses that are not allowed, before upgrading', async () => {
    expect(await upgradeStatus(`ws://${proxy.wsProxy}?address=10.1.2.3:5432`)).toBe(403);
    expect(await upgradeStatus(`ws://${proxy.wsProxy}?address=nonsense`)).toBe(400);
    expect(await upgradeStatus(`ws://${proxy.wsProxy.replace('/v1', '/v2')}?address=127.0.0.1:5432`)).toBe(404);

    const strict = await startWsProxy({ allow: () => false });
    try {
      const local = new URL(serverUrl());
      expect(await upgradeStatus(`ws://${strict.wsProxy}?address=${local.host}`)).toBe(403);
      expect(strict.connectionsOpened()).toBe(0);
    } finally {
      await strict.close();
    }
  });
});
