// GET/POST /api/servers and PATCH /api/servers/:id: where tenant databases can live.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { providers, serverStatuses } from '../../../control-plane/schema.ts';
import { addServer, listServersProbed } from '../../../operations/servers.ts';
import { updateServer } from '../../../control-plane/server-records.ts';
import type { App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import { bearer, errors, json, jsonBody, ServerSchema, text } from '../../schemas.ts';
import { isPostgresUrl, POSTGRES_URL_RULE } from '../../../base/db/postgres-url.ts';

const AddServerBody = z
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
      .openapi({ description: 'neon: what new projects are created with' }),
    capacity: z.number().int().min(1).max(100_000).optional(),
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

const UpdateServerBody = z
  .object({ status: z.enum(serverStatuses).optional(), capacity: z.number().int().min(1).max(100_000).optional() })
  .refine((b) => b.status !== undefined || b.capacity !== undefined, 'give status or capacity')
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
      summary: 'Change a server: active, draining (no new companies) or disabled; capacity',
      request: { params: z.object({ id: z.uuid() }), body: jsonBody(UpdateServerBody) },
      responses: { 200: json(ServerSchema, 'The server') },
    }),
    async (c) => c.json(await updateServer(ctx, c.req.valid('param').id, c.req.valid('json')), 200),
  );
}
