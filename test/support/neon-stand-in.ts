// A local stand-in for the few Neon API v2 endpoints Silo uses, so Silo's Neon provider can be tested
// with the real @neondatabase/api-client and no access to Neon.
//
// What a Neon "project" is here: one login role and one database on a real local PostgreSQL (the
// superuser `adminUrl`), reached through test/support/ws-proxy.ts by @neondatabase/serverless.
// Everything a client can observe follows Neon's published API (paths, bodies typed against
// api.gen.d.ts, status codes, `{ code, message }` errors), including what makes Neon awkward to
// program against:
//   - project creation is asynchronous: the 201 carries `running` operations, and the role and
//     database only exist (a client can only log in) once those operations have finished;
//   - a write to a project that has a running operation answers 423 Locked;
//   - failNext() injects 429 (rate limit), 423 or 5xx answers so retries can be tested.
//
// Deviations, all forced by "many projects on one local server", none visible to a client that only
// uses what the API returns:
//   - Names: on Neon every project has its own Postgres, so two projects may both have `neondb` and
//     `neondb_owner`. Here they share one server, so when a requested database or role name is
//     already taken on it, the real one gets a unique name (`neon_<project id>_<name>`, at most 63
//     bytes) and THAT name is what the API returns (connection_uris, connection_parameters,
//     databases, roles).
//   - Hosts: Neon hands out `ep-....<region>.aws.neon.tech` on port 5432 with `?sslmode=require`.
//     Here every host field (endpoint host, connection_parameters host/pooler_host, proxy_host) is
//     the local server's `host:port`, and connection URIs carry no sslmode (no TLS locally).
//   - The role only has LOGIN and owns its database (Neon's owner role is also a member of
//     neon_superuser). CONNECT on the database is revoked from PUBLIC so roles of one project
//     cannot reach another project's database, as separate computes would ensure.
//   - `pg_version` is echoed as requested; the databases run on whatever the local server is.
//   - Deletion is immediate (no recovery window): the database and role are dropped before the 200.
//   - Error `code` strings are this stand-in's own: Neon documents `code` as a free-form string.
import { createHash, randomBytes, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Branch, Database, Endpoint, Operation, Project, ProjectListItem, Role } from '@neondatabase/api-client';
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import postgres from 'postgres';
import { z } from 'zod';

export interface NeonStandIn {
  /** Base URL to give to createApiClient({ baseURL }), e.g. http://127.0.0.1:PORT/api/v2 */
  apiUrl: string;
  apiKey: string;
  /** Live (not deleted) projects, with the database and role that back them. */
  projects(): { id: string; name: string; databaseName: string; roleName: string }[];
  /** Every request received: method, path, status answered (for assertions on retries and waits). */
  requests: { method: string; path: string; status: number }[];
  /** The next `count` requests answer `status` (429 with a Retry-After header, or 423, or 500/503) before doing anything. */
  failNext(count: number, status: 423 | 429 | 500 | 503): void;
  close(): Promise<void>; // stops the server and drops every database/role it created
}

// Neon's published regions (neon.com/docs/introduction/regions); anything else is a 400 there too.
const REGIONS = [
  'aws-us-east-1',
  'aws-us-east-2',
  'aws-us-west-2',
  'aws-eu-central-1',
  'aws-eu-west-2',
  'aws-ap-southeast-1',
  'aws-ap-southeast-2',
  'aws-sa-east-1',
  'azure-eastus2',
  'azure-westus3',
  'azure-gwc',
] as const;

// PostgreSQL's NAMEDATALEN - 1: Neon documents the same 63-byte limit for role names.
const MAX_NAME_BYTES = 63;
const pgName = z
  .string()
  .min(1)
  .refine((s) => Buffer.byteLength(s) <= MAX_NAME_BYTES, `must not exceed ${MAX_NAME_BYTES} bytes`)
  .refine((s) => !s.includes('\0'), 'must not contain NUL');

// The part of ProjectCreateRequest the stand-in honours; other fields are accepted and ignored.
const createProjectBody = z.object({
  project: z.object({
    name: z.string().min(1).max(256).optional(),
    region_id: z.enum(REGIONS).optional(),
    pg_version: z.number().int().min(14).max(18).optional(),
    store_passwords: z.boolean().optional(),
    history_retention_seconds: z.number().int().min(0).max(2_592_000).optional(),
    org_id: z
      .string()
      .regex(/^[a-z0-9-]{1,60}$/, 'must match ^[a-z0-9-]{1,60}$')
      .optional(),
    branch: z
      .object({
        name: z.string().min(1).max(256).optional(),
        database_name: pgName.optional(),
        role_name: pgName.refine((s) => !s.startsWith('pg_'), 'role names starting with "pg_" are reserved').optional(),
      })
      .optional(),
  }),
});

interface SimProject {
  project: Project;
  branch: Branch;
  endpoint: Endpoint;
  role: Role & { password: string };
  database: Database;
  operations: Operation[];
  deleted: boolean;
}

type OperationStatus = Operation['status'];
type OperationAction = Operation['action'];
const LOCKING: readonly string[] = ['scheduling', 'running', 'cancelling'];

export async function startNeonStandIn(options: {
  adminUrl: string; // superuser URL of the local PostgreSQL that plays Neon's computes
  apiKey?: string; // default: a random string
  operationMs?: number; // how long each operation stays `running` (default ~150 ms)
  /**
   * Retry-After (seconds) sent with injected 429s; null sends none. Default 1. Neon's docs promise
   * a 429 and ask for exponential backoff, but do not document a Retry-After header.
   */
  retryAfterSeconds?: number | null;
}): Promise<NeonStandIn> {
  const apiKey = options.apiKey ?? randomBytes(24).toString('base64url');
  const operationMs = options.operationMs ?? 150;
  const retryAfter = options.retryAfterSeconds === undefined ? 1 : options.retryAfterSeconds;
  const admin = postgres(options.adminUrl, { max: 2, onnotice: () => {} });
  // Where the "computes" are: every project's connection details point at the admin server.
  const adminUrl = new URL(options.adminUrl);
  const pgHost = adminUrl.host || '127.0.0.1:5432';

  const projects = new Map<string, SimProject>(); // insertion order = creation order, for listing
  const reservedDatabases = new Set<string>(); // physical names handed out and not yet dropped
  const reservedRoles = new Set<string>();
  const created = { databases: new Set<string>(), roles: new Set<string>() }; // exist on the server now
  const pendingWork = new Set<Promise<void>>();
  const requests: NeonStandIn['requests'] = [];
  const injected: (423 | 429 | 500 | 503)[] = [];
  let nextDatabaseId = randomInt(100_000, 900_000);
  let closed = false;

  /** Error texts never carry a password or the API key, whatever a lower layer put in them. */
  const redact = (text: string): string => {
    let out = text;
    for (const secret of [apiKey, ...[...projects.values()].map((p) => p.role.password)]) {
      if (secret) out = out.split(secret).join('[redacted]');
    }
    return out;
  };
  const fail = (c: Context, status: ContentfulStatusCode, code: string, message: string) =>
    c.json({ code, message: redact(message) }, status);

  // ---- the simulated control plane -------------------------------------------------------------

  /** The requested name when the shared server still has it free, else a per-project one. */
  async function physicalName(kind: 'database' | 'role', requested: string, projectId: string): Promise<string> {
    const reserved = kind === 'database' ? reservedDatabases : reservedRoles;
    const rows =
      kind === 'database'
        ? await admin`select 1 from pg_database where datname = ${requested}`
        : await admin`select 1 from pg_roles where rolname = ${requested}`;
    // Checked and reserved without an await in between, so two concurrent creates asking for the
    // same free name cannot both get it.
    const name =
      rows.length > 0 || reserved.has(requested)
        ? truncateBytes(`neon_${projectId.replaceAll('-', '_')}_${requested}`, MAX_NAME_BYTES)
        : requested;
    reserved.add(name);
    return name;
  }

  /** What Neon's create_timeline + start_compute amount to here: the role and database appear. */
  async function materialize(p: SimProject): Promise<void> {
    const role = quoteIdent(p.role.name);
    const database = quoteIdent(p.database.name);
    // CREATE ROLE takes no bind parameters; the password is [A-Za-z0-9_] only (see newPassword).
    await admin.unsafe(`create role ${role} login password '${p.role.password}'`);
    created.roles.add(p.role.name);
    await admin.unsafe(`create database ${database} owner ${role}`);
    created.databases.add(p.database.name);
    await admin.unsafe(`revoke connect on database ${database} from public`);
  }

  async function dropFromServer(databaseName: string, roleName: string): Promise<void> {
    if (created.databases.has(databaseName)) {
      await admin.unsafe(`drop database if exists ${quoteIdent(databaseName)} with (force)`);
      created.databases.delete(databaseName);
    }
    if (created.roles.has(roleName)) {
      await admin.unsafe(`drop role if exists ${quoteIdent(roleName)}`);
      created.roles.delete(roleName);
    }
  }

  /** Operations stay `running` for operationMs, then do their work and turn `finished` (or `failed`). */
  function runOperations(p: SimProject): void {
    const startedAt = Date.now();
    const work = (async () => {
      await sleep(operationMs);
      let error: string | undefined;
      try {
        await materialize(p);
      } catch (e) {
        error = redact(e instanceof Error ? e.message : String(e));
      }
      const at = timestamp();
      for (const op of p.operations) {
        op.status = (error ? 'failed' : 'finished') as OperationStatus;
        op.updated_at = at;
        op.total_duration_ms = Date.now() - startedAt;
        if (error) {
          op.error = error;
          op.failures_count += 1;
        }
      }
      if (!error) {
        p.branch.current_state = 'ready';
        delete p.branch.pending_state;
        p.branch.state_changed_at = at;
        p.endpoint.current_state = 'active' as Endpoint['current_state'];
        delete p.endpoint.pending_state;
        p.endpoint.started_at = at;
        p.endpoint.updated_at = at;
      }
    })();
    pendingWork.add(work);
    void work.finally(() => pendingWork.delete(work));
  }

  async function createProject(body: z.infer<typeof createProjectBody>): Promise<SimProject> {
    const spec = body.project;
    let id = newProjectId();
    while (projects.has(id)) id = newProjectId();
    const requestedDatabase = spec.branch?.database_name ?? 'neondb';
    const requestedRole = spec.branch?.role_name ?? `${requestedDatabase}_owner`;
    if (Buffer.byteLength(requestedRole) > MAX_NAME_BYTES) {
      throw new BadRequest(
        `project.branch.role_name: the default role name ("{database_name}_owner") would exceed ${MAX_NAME_BYTES} bytes`,
      );
    }
    const databaseName = await physicalName('database', requestedDatabase, id);
    const roleName = await physicalName('role', requestedRole, id);

    const at = timestamp();
    const regionId = spec.region_id ?? 'aws-us-east-2';
    const branchId = `br-${words()}-${suffix()}`;
    const endpointId = `ep-${words()}-${suffix()}`;
    const periodStart = new Date();
    periodStart.setUTCDate(1);
    periodStart.setUTCHours(0, 0, 0, 0);
    const periodEnd = new Date(periodStart);
    periodEnd.setUTCMonth(periodEnd.getUTCMonth() + 1);

    const project: Project = {
      data_storage_bytes_hour: 0,
      data_transfer_bytes: 0,
      written_data_bytes: 0,
      compute_time_seconds: 0,
      active_time_seconds: 0,
      cpu_used_sec: 0,
      id,
      platform_id: regionId.split('-')[0]!,
      region_id: regionId,
      name: spec.name ?? id,
      provisioner: 'k8s-neonvm',
      default_endpoint_settings: { autoscaling_limit_min_cu: 0.25, autoscaling_limit_max_cu: 2, suspend_timeout_seconds: 0 },
      settings: { allowed_ips: { ips: [], protected_branches_only: false }, enable_logical_replication: false },
      pg_version: spec.pg_version ?? 17,
      proxy_host: pgHost,
      branch_logical_size_limit: 0,
      branch_logical_size_limit_bytes: -1,
      store_passwords: spec.store_passwords ?? true,
      creation_source: 'console',
      history_retention_seconds: spec.history_retention_seconds ?? 86_400,
      created_at: at,
      updated_at: at,
      consumption_period_start: timestamp(periodStart),
      consumption_period_end: timestamp(periodEnd),
      owner_id: randomUUID(),
      ...(spec.org_id ? { org_id: spec.org_id } : {}),
    };
    const branch: Branch = {
      id: branchId,
      project_id: id,
      name: spec.branch?.name ?? 'main',
      current_state: 'init',
      pending_state: 'ready',
      state_changed_at: at,
      creation_source: 'console',
      primary: true,
      default: true,
      protected: false,
      cpu_used_sec: 0,
      compute_time_seconds: 0,
      active_time_seconds: 0,
      written_data_bytes: 0,
      data_transfer_bytes: 0,
      created_at: at,
      updated_at: at,
    };
    const endpoint: Endpoint = {
      host: pgHost,
      id: endpointId,
      project_id: id,
      branch_id: branchId,
      autoscaling_limit_min_cu: 0.25,
      autoscaling_limit_max_cu: 2,
      region_id: regionId,
      type: 'read_write' as Endpoint['type'],
      current_state: 'init' as Endpoint['current_state'],
      pending_state: 'active' as Endpoint['current_state'],
      settings: {},
      pooler_enabled: false,
      pooler_mode: 'transaction' as Endpoint['pooler_mode'],
      disabled: false,
      passwordless_access: true,
      creation_source: 'console',
      created_at: at,
      updated_at: at,
      proxy_host: pgHost,
      suspend_timeout_seconds: 0,
      provisioner: 'k8s-neonvm',
    };
    const role = { branch_id: branchId, name: roleName, password: newPassword(), protected: false, created_at: at, updated_at: at };
    const database: Database = {
      id: nextDatabaseId++,
      branch_id: branchId,
      name: databaseName,
      owner_name: roleName,
      created_at: at,
      updated_at: at,
    };
    const operation = (action: string, extra: Partial<Operation>): Operation => ({
      id: randomUUID(),
      project_id: id,
      branch_id: branchId,
      action: action as OperationAction,
      status: 'running' as OperationStatus,
      failures_count: 0,
      created_at: at,
      updated_at: at,
      total_duration_ms: 0,
      ...extra,
    });
    const operations = [operation('create_timeline', {}), operation('start_compute', { endpoint_id: endpointId })];

    const p: SimProject = { project, branch, endpoint, role, database, operations, deleted: false };
    projects.set(id, p);
    runOperations(p);
    return p;
  }

  function live(id: string): SimProject | undefined {
    const p = projects.get(id);
    return p && !p.deleted ? p : undefined;
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  const app = new Hono().basePath('/api/v2');

  // Recorded after the answer so the status is the one the client saw (injected ones included).
  app.use('*', async (c, next) => {
    await next();
    requests.push({ method: c.req.method, path: new URL(c.req.url).pathname, status: c.res.status });
  });

  // Injected failures come before authentication or any work, as a gateway's would.
  app.use('*', async (c, next) => {
    const status = injected.shift();
    if (status === undefined) return next();
    if (status === 429) {
      if (retryAfter !== null) c.header('Retry-After', String(retryAfter));
      return fail(c, 429, 'TOO_MANY_REQUESTS', 'rate limit exceeded');
    }
    if (status === 423)
      return fail(c, 423, 'LOCKED', 'project already has running conflicting operations, scheduling of new ones is prohibited');
    if (status === 503) return fail(c, 503, 'SERVICE_UNAVAILABLE', 'service unavailable, please retry');
    return fail(c, 500, 'INTERNAL_ERROR', 'internal server error');
  });

  app.use('*', async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match || !timingSafeEqualText(match[1]!.trim(), apiKey)) {
      return fail(c, 401, 'UNAUTHORIZED', 'authentication required: provide a valid API key as "Authorization: Bearer <key>"');
    }
    return next();
  });

  app.get('/projects', (c) => {
    const limitText = c.req.query('limit');
    const limit = limitText === undefined ? 10 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 400) {
      return fail(c, 400, 'BAD_REQUEST', 'limit: must be an integer from 1 to 400');
    }
    const search = c.req.query('search');
    const cursor = c.req.query('cursor');
    const orgId = c.req.query('org_id');
    let list = [...projects.values()].filter((p) => !p.deleted);
    if (orgId) list = list.filter((p) => p.project.org_id === orgId);
    if (search) list = list.filter((p) => p.project.id.includes(search) || p.project.name.includes(search));
    if (cursor) {
      const at = list.findIndex((p) => p.project.id === cursor);
      list = at === -1 ? [] : list.slice(at + 1);
    }
    const page = list.slice(0, limit);
    const last = page.at(-1)?.project.id ?? cursor;
    return c.json({
      projects: page.map((p) => listItem(p.project)),
      ...(last ? { pagination: { cursor: last } } : {}),
      applications: {},
      integrations: {},
    });
  });

  app.post('/projects', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return fail(c, 400, 'BAD_REQUEST', 'request body must be JSON');
    }
    const parsed = createProjectBody.safeParse(body);
    if (!parsed.success) {
      const message = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      return fail(c, 400, 'BAD_REQUEST', message);
    }
    let p: SimProject;
    try {
      p = await createProject(parsed.data);
    } catch (e) {
      if (e instanceof BadRequest) return fail(c, 400, 'BAD_REQUEST', e.message);
      throw e;
    }
    const uri = `postgresql://${encodeURIComponent(p.role.name)}:${encodeURIComponent(p.role.password)}@${pgHost}/${encodeURIComponent(p.database.name)}`;
    return c.json(
      {
        project: p.project,
        connection_uris: [
          {
            connection_uri: uri,
            connection_parameters: {
              database: p.database.name,
              password: p.role.password,
              role: p.role.name,
              host: pgHost,
              pooler_host: pgHost,
            },
          },
        ],
        roles: [p.role],
        databases: [p.database],
        operations: p.operations,
        branch: p.branch,
        endpoints: [p.endpoint],
      },
      201,
    );
  });

  app.get('/projects/:project_id', (c) => {
    const p = live(c.req.param('project_id'));
    if (!p) return fail(c, 404, 'NOT_FOUND', 'project not found');
    return c.json({ project: p.project });
  });

  app.get('/projects/:project_id/operations/:operation_id', (c) => {
    const p = live(c.req.param('project_id'));
    if (!p) return fail(c, 404, 'NOT_FOUND', 'project not found');
    const operation = p.operations.find((o) => o.id === c.req.param('operation_id'));
    if (!operation) return fail(c, 404, 'NOT_FOUND', 'operation not found');
    return c.json({ operation });
  });

  app.delete('/projects/:project_id', async (c) => {
    const p = live(c.req.param('project_id'));
    if (!p) return fail(c, 404, 'NOT_FOUND', 'project not found');
    if (p.operations.some((o) => LOCKING.includes(o.status))) {
      return fail(c, 423, 'LOCKED', 'project already has running conflicting operations, scheduling of new ones is prohibited');
    }
    p.deleted = true; // before the drop, so a concurrent DELETE gets 404 rather than a second drop
    await dropFromServer(p.database.name, p.role.name);
    reservedDatabases.delete(p.database.name);
    reservedRoles.delete(p.role.name);
    p.project.updated_at = timestamp();
    return c.json({ project: p.project });
  });

  app.notFound((c) => fail(c, 404, 'NOT_FOUND', `no such endpoint: ${c.req.method} ${new URL(c.req.url).pathname}`));
  app.onError((error, c) => fail(c, 500, 'INTERNAL_ERROR', error.message));

  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;

  return {
    apiUrl: `http://127.0.0.1:${port}/api/v2`,
    apiKey,
    requests,
    projects: () =>
      [...projects.values()]
        .filter((p) => !p.deleted)
        .map((p) => ({ id: p.project.id, name: p.project.name, databaseName: p.database.name, roleName: p.role.name })),
    failNext(count, status) {
      for (let i = 0; i < count; i++) injected.push(status);
    },
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Operations still running finish their work first, so nothing is created after the sweep.
      await Promise.allSettled([...pendingWork]);
      for (const p of projects.values()) {
        if (!p.deleted) await dropFromServer(p.database.name, p.role.name);
      }
      await admin.end();
    },
  };
}

class BadRequest extends Error {}

function listItem(p: Project): ProjectListItem {
  return {
    id: p.id,
    platform_id: p.platform_id,
    region_id: p.region_id,
    name: p.name,
    provisioner: p.provisioner,
    default_endpoint_settings: p.default_endpoint_settings,
    settings: p.settings,
    pg_version: p.pg_version,
    proxy_host: p.proxy_host,
    branch_logical_size_limit: p.branch_logical_size_limit,
    branch_logical_size_limit_bytes: p.branch_logical_size_limit_bytes,
    store_passwords: p.store_passwords,
    active_time: 0,
    cpu_used_sec: 0,
    creation_source: p.creation_source,
    created_at: p.created_at,
    updated_at: p.updated_at,
    owner_id: p.owner_id,
    ...(p.org_id ? { org_id: p.org_id } : {}),
    history_retention_seconds: p.history_retention_seconds,
  };
}

// ---- small helpers -------------------------------------------------------------------------------

const ADJECTIVES = [
  'silent',
  'wispy',
  'floral',
  'bitter',
  'spring',
  'aged',
  'little',
  'dark',
  'morning',
  'winter',
  'cool',
  'polished',
  'young',
  'holy',
  'misty',
];
const NOUNS = [
  'sun',
  'meadow',
  'king',
  'sound',
  'smoke',
  'salad',
  'darkness',
  'bread',
  'boat',
  'snowflake',
  'term',
  'river',
  'frost',
  'leaf',
  'hill',
];

function words(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${NOUNS[randomInt(NOUNS.length)]}`;
}

/** Project ids look like Neon's: `silent-sun-12345678`. */
function newProjectId(): string {
  return `${words()}-${randomInt(10_000_000, 100_000_000)}`;
}

/** Branch and endpoint ids end in 8 lowercase letters/digits, e.g. `br-wispy-meadow-a5bx2c3d`. */
function suffix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from({ length: 8 }, () => alphabet[randomInt(alphabet.length)]).join('');
}

/** Neon-style `npg_` passwords; only [A-Za-z0-9_], so they are safe inside a SQL string literal. */
function newPassword(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return `npg_${Array.from({ length: 12 }, () => alphabet[randomInt(alphabet.length)]).join('')}`;
}

/** ISO-8601 to the second, as Neon writes timestamps (`2022-11-30T20:09:48Z`). */
function timestamp(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Cuts to at most `max` UTF-8 bytes without splitting a character. */
function truncateBytes(text: string, max: number): string {
  let out = '';
  for (const ch of text) {
    if (Buffer.byteLength(out + ch) > max) break;
    out += ch;
  }
  return out;
}

/** Constant-time comparison (of digests, so lengths need not match). */
function timingSafeEqualText(a: string, b: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(a), digest(b));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
