// The Neon API stand-in's HTTP routes (test/support/neon-stand-in.ts holds the state they act on
// and cites where Neon documents each behaviour): projects, operations, regions and the key's
// organisations, behind injected failures, bearer-key auth and Neon's rate limits.
import { Hono } from 'hono';
import { z } from 'zod';
import { DEFAULT_REGION, organizationFor, type Principal, projectLimit, REGIONS, routeOf } from './neon-accounts.ts';
import type { StandInState } from './neon-stand-in.ts';
import { LOCKING, listItem, type SimProject, timingSafeEqualText } from './neon-stand-in-records.ts';

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

const LOCKED = 'project already has running conflicting operations, scheduling of new ones is prohibited';

export function standInRoutes(state: StandInState, requests: { method: string; path: string; status: number }[]) {
  const { fail } = state;
  const app = new Hono<{ Variables: { principal: Principal } }>().basePath('/api/v2');

  // Recorded after the answer so the status is the one the client saw (injected ones included).
  app.use('*', async (c, next) => {
    await next();
    requests.push({ method: c.req.method, path: new URL(c.req.url).pathname, status: c.res.status });
  });

  const tooMany = (c: Parameters<typeof fail>[0]) => {
    if (state.retryAfter !== null) c.header('Retry-After', String(state.retryAfter));
    return fail(c, 429, 'TOO_MANY_REQUESTS', 'rate limit exceeded');
  };

  // Injected failures come before authentication or any work, as a gateway's would.
  app.use('*', async (c, next) => {
    const status = state.injected.shift();
    if (status === undefined) return next();
    if (status === 429) return tooMany(c);
    if (status === 423) return fail(c, 423, 'LOCKED', LOCKED);
    if (status === 503) return fail(c, 503, 'SERVICE_UNAVAILABLE', 'service unavailable, please retry');
    return fail(c, 500, 'INTERNAL_ERROR', 'internal server error');
  });

  app.use('*', async (c, next) => {
    const match = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '');
    const given = match?.[1]?.trim() ?? '';
    const key = state.keys.all().find((k) => timingSafeEqualText(given, k));
    const principal = key ? state.keys.find(key) : undefined;
    if (!key || !principal) {
      return fail(c, 401, 'UNAUTHORIZED', 'authentication required: provide a valid API key as "Authorization: Bearer <key>"');
    }
    if (state.limiter && !state.limiter.allow(key, routeOf(c.req.method, new URL(c.req.url).pathname))) return tooMany(c);
    c.set('principal', principal);
    return next();
  });

  /** The project, when it is live and this key may reach it. */
  const reachable = (principal: Principal, id: string): SimProject | undefined => {
    const p = state.projects.get(id);
    if (!p || p.deleted) return undefined;
    if (principal.kind === 'project') return principal.projectId === id ? p : undefined;
    const orgs = principal.kind === 'personal' ? principal.orgIds : [principal.orgId];
    return orgs.includes(p.project.org_id!) ? p : undefined;
  };

  app.get('/users/me/organizations', (c) => {
    const principal = c.get('principal');
    const ids = principal.kind === 'personal' ? principal.orgIds : [principal.orgId];
    const at = '2025-01-01T00:00:00Z';
    const organizations = state.organizations
      .filter((o) => ids.includes(o.id))
      .map((o) => ({ id: o.id, name: o.name, handle: o.id, plan: o.plan, created_at: at, updated_at: at, managed_by: 'console' }));
    return c.json({ organizations });
  });

  app.get('/regions', (c) => {
    const org = state.organizations.find((o) => o.id === c.req.query('org_id'));
    const regions = (org?.regions ?? REGIONS).map((id) => ({
      region_id: id,
      name: id,
      default: id === DEFAULT_REGION,
      geo_lat: '',
      geo_long: '',
    }));
    return c.json({ regions });
  });

  app.get('/projects', (c) => {
    const principal = c.get('principal');
    const limitText = c.req.query('limit');
    const limit = limitText === undefined ? 10 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 400) return fail(c, 400, 'BAD_REQUEST', 'limit: must be an integer from 1 to 400');
    const timeout = c.req.query('timeout');
    if (timeout !== undefined && !(Number.isInteger(Number(timeout)) && Number(timeout) >= 100 && Number(timeout) <= 30_000)) {
      return fail(c, 400, 'BAD_REQUEST', 'timeout: must be an integer from 100 to 30000');
    }
    const org = principal.kind === 'project' ? principal.orgId : organizationFor(principal, c.req.query('org_id'));
    if (Array.isArray(org)) return fail(c, org[0], 'BAD_REQUEST', org[1]);
    const recoverable = c.req.query('recoverable') === 'true';
    const search = c.req.query('search');
    const cursor = c.req.query('cursor');
    let list = [...state.projects.values()].filter((p) => p.deleted === recoverable && p.project.org_id === org);
    if (principal.kind === 'project') list = list.filter((p) => p.project.id === principal.projectId);
    if (search) list = list.filter((p) => p.project.id.includes(search) || p.project.name.includes(search));
    if (cursor) {
      const at = list.findIndex((p) => p.project.id === cursor);
      list = at === -1 ? [] : list.slice(at + 1);
    }
    let page = list.slice(0, limit);
    let unavailable: string[] | undefined;
    if (state.partial.count > 0) {
      state.partial.count -= 1;
      unavailable = page.map((p) => p.project.id);
      page = [];
    }
    const last = page.at(-1)?.project.id ?? cursor;
    return c.json({
      projects: page.map(listItem),
      ...(unavailable ? { unavailable_project_ids: unavailable } : {}),
      ...(last ? { pagination: { cursor: last } } : {}),
      applications: {},
      integrations: {},
    });
  });

  app.post('/projects', async (c) => {
    const principal = c.get('principal');
    if (principal.kind === 'project') return fail(c, 403, 'FORBIDDEN', 'a project-scoped API key may not create projects');
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
    const spec = parsed.data.project;
    const orgId = organizationFor(principal, spec.org_id);
    if (Array.isArray(orgId)) return fail(c, orgId[0], 'BAD_REQUEST', orgId[1]);
    const org = state.organizations.find((o) => o.id === orgId)!;
    const regionId = spec.region_id ?? DEFAULT_REGION;
    if (org.regions && !org.regions.includes(regionId)) {
      return fail(c, 400, 'BAD_REQUEST', `region ${regionId} is not available to this organization`);
    }
    const live = [...state.projects.values()].filter((p) => !p.deleted && p.project.org_id === orgId).length;
    if (live >= projectLimit(org)) {
      return fail(c, 422, 'PROJECTS_LIMIT_EXCEEDED', `projects limit exceeded: your plan allows ${projectLimit(org)} projects`);
    }
    const databaseName = spec.branch?.database_name ?? 'neondb';
    const roleName = spec.branch?.role_name ?? `${databaseName}_owner`;
    if (Buffer.byteLength(roleName) > MAX_NAME_BYTES) {
      return fail(c, 400, 'BAD_REQUEST', `project.branch.role_name: the default role name would exceed ${MAX_NAME_BYTES} bytes`);
    }
    const p = await state.createProject({
      name: spec.name,
      regionId,
      orgId,
      pgVersion: spec.pg_version,
      branchName: spec.branch?.name,
      databaseName,
      roleName,
      storePasswords: spec.store_passwords,
      historyRetentionSeconds: spec.history_retention_seconds,
    });
    const host = p.endpoint.host;
    const uri = `postgresql://${encodeURIComponent(p.role.name)}:${encodeURIComponent(p.role.password)}@${host}/${encodeURIComponent(p.database.name)}${state.uriQuery}`;
    const connection_parameters = { database: p.database.name, password: p.role.password, role: p.role.name, host, pooler_host: host };
    return c.json(
      {
        project: p.project,
        connection_uris: [{ connection_uri: uri, connection_parameters }],
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
    const p = reachable(c.get('principal'), c.req.param('project_id'));
    if (!p) return fail(c, 404, 'NOT_FOUND', 'project not found');
    return c.json({ project: p.project });
  });

  app.get('/projects/:project_id/operations/:operation_id', (c) => {
    const p = reachable(c.get('principal'), c.req.param('project_id'));
    if (!p) return fail(c, 404, 'NOT_FOUND', 'project not found');
    const operation = p.operations.find((o) => o.id === c.req.param('operation_id'));
    if (!operation) return fail(c, 404, 'NOT_FOUND', 'operation not found');
    return c.json({ operation });
  });

  app.delete('/projects/:project_id', async (c) => {
    const principal = c.get('principal');
    const p = reachable(principal, c.req.param('project_id'));
    if (!p) return fail(c, 404, 'NOT_FOUND', 'project not found');
    if (principal.kind === 'project') return fail(c, 403, 'FORBIDDEN', 'a project-scoped API key may not delete its project');
    if (p.operations.some((o) => LOCKING.includes(o.status))) return fail(c, 423, 'LOCKED', LOCKED);
    await state.removeProject(p);
    return c.json({ project: p.project });
  });

  app.notFound((c) => fail(c, 404, 'NOT_FOUND', `no such endpoint: ${c.req.method} ${new URL(c.req.url).pathname}`));
  app.onError((error, c) => fail(c, 500, 'INTERNAL_ERROR', error.message));
  return app;
}
