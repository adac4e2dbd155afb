// GET/POST /api/servers, PATCH and DELETE /api/servers/:id: where tenant databases can live.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { providers, serverPlacements, serverStatuses } from '../../../control-plane/schema.ts';
import { changeServer, removeServer } from '../../../operations/server-changes.ts';
import { addServer, listServersProbed } from '../../../operations/servers.ts';
import type { App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import { bearer, errors, json, jsonBody, ServerSchema, text } from '../../schemas.ts';
import { isPostgresUrl, POSTGRES_URL_RULE } from '../../../base/db/postgres-url.ts';

export const AddServerBody = z
  .object({
    name: text(100),
    provider: z.enum(providers).optional().openapi({ description: 'postgres (default), neon or external' }),
    url: z.string().max(2000).optional().openapi({
      description:
        "postgres: an admin login's connection string (required). neon: the Neon API's base URL (default https://console.neon.tech/api/v2). Stored encrypted, never shown.",
    }),
    apiKey: z
      .string()
      .min(1)
      .max(500)
      .optional()
      .openapi({ description: 'neon: the Neon API key (required); stored encrypted, never shown' }),
    neon: z
      .object({
        regionId: z.string().max(100).optional(),
        pgVersion: z.number().int().min(14).max(18).optional(),
        orgId: z.string().max(100).optional(),
      })
      .strict()
      .optional()
      .openapi({
        description:
          'neon: what new projects are created with. orgId is required when the key (a personal key) can act in several organizations; regionId must be open to the organization.',
      }),
    capacity: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .optional()
      .openapi({ description: "how many companies it takes; default 500, for neon the plan's project limit (100, or 1,000 on Scale)" }),
    placement: z
      .enum(serverPlacements)
      .optional()
      .openapi({ description: 'automatic (default): ordinary sign-ups may land here; manual: only companies that name it' }),
  })
  .superRefine((body, check) => {
    const provider = body.provider ?? 'postgres';
    const problem = (path: string, message: string) => check.addIssue({ code: 'custom', path: [path], message });
    if (provider === 'postgres') {
      if (!body.url) problem('url', 'required for a postgres server');
      else if (!isPostgresUrl(body.url)) problem('url', POSTGRES_URL_RULE);
    }
    if (provider === 'neon') {
      if (!body.apiKey) problem('apiKey', 'required for a neon server');
      if (body.url && !/^https?:\/\/.+/.test(body.url)) problem('url', 'must be the http(s) URL of the Neon API');
    }
    if (provider === 'external' && body.url) problem('url', 'an external server has no URL: each company brings its own');
    if (provider !== 'neon' && (body.apiKey || body.neon)) problem(body.apiKey ? 'apiKey' : 'neon', 'for neon servers only');
  })
  .openapi('AddServerRequest');

export const UpdateServerBody = z
  .object({
    status: z.enum(serverStatuses).optional(),
    capacity: z.number().int().min(1).max(100_000).optional(),
    placement: z.enum(serverPlacements).optional().openapi({ description: 'manual: only companies that name this server land here' }),
    url: z.string().min(1).max(2000).optional().openapi({
      description:
        'postgres: a new admin connection string, which must reach the databases already on the server. neon: the API base URL. Checked before it is stored; stored encrypted, never shown.',
    }),
    apiKey: z.string().min(1).max(500).optional().openapi({ description: 'neon: a new API key, checked before it is stored' }),
  })
  .strict()
  .refine((b) => Object.values(b).some((v) => v !== undefined), 'give at least one of status, capacity, placement, url, apiKey')
  .openapi('UpdateServerRequest');

export function registerServerRoutes(app: App, ctx: SiloContext) {
  const common = { tags: ['servers'], security: bearer, middleware: [requireAuth(ctx, ['system_admin'])] };

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/servers',
      operationId: 'listServers',
      summary: 'Database servers with their company counts and whether they answer',
      responses: { 200: json(z.object({ items: z.array(ServerSchema) }), 'Servers') },
    }),
    async (c) => c.json({ items: await listServersProbed(ctx) }, 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/api/servers',
      operationId: 'createServer',
      summary: 'Register a database server (its template is prepared before this answers)',
      description:
        'A cluster already registered is refused (409): for postgres the same host:port, whatever the database; for neon the same API host, organization and region.',
      request: { body: jsonBody(AddServerBody) },
      responses: { 201: json(ServerSchema, 'The server'), 409: errors[409] },
    }),
    async (c) => c.json(await addServer(ctx, c.req.valid('json')), 201),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'patch',
      path: '/api/servers/{id}',
      operationId: 'updateServer',
      summary: 'Change a server: status, capacity, placement, or its URL or API key (checked first)',
      request: { params: z.object({ id: z.uuid() }), body: jsonBody(UpdateServerBody) },
      responses: { 200: json(ServerSchema, 'The server'), 409: errors[409], 503: errors[503] },
    }),
    async (c) => c.json(await changeServer(ctx, c.req.valid('param').id, c.req.valid('json')), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'delete',
      path: '/api/servers/{id}',
      operationId: 'deleteServer',
      summary: 'Remove a server that holds no company (deleted ones aside) and nothing left to drop',
      request: { params: z.object({ id: z.uuid() }) },
      responses: { 204: { description: 'Removed' }, 409: errors[409] },
    }),
    async (c) => {
      await removeServer(ctx, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
}
