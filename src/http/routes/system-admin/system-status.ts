// GET /api/system/status: the fleet at a glance.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { systemStatus } from '../../../operations/system-status.ts';
import type { App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import { bearer, json } from '../../schemas.ts';

const StatusSchema = z
  .object({
    companies: z.record(z.string(), z.number()),
    servers: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        status: z.string(),
        capacity: z.number(),
        companies: z.number(),
        templateVersion: z.string().nullable(),
        warmPool: z
          .object({ ready: z.number(), cloning: z.number(), stale: z.number(), target: z.number() })
          .nullable()
          .openapi({ description: 'Databases cloned ahead of time for sign-ups (postgres servers; null for others)' }),
      }),
    ),
    pools: z.object({
      openPools: z.number(),
      drainingPools: z.number(),
      connectionsAtMost: z.number(),
      hits: z.number(),
      misses: z.number(),
      evictions: z.number(),
      opensInFlight: z.number(),
    }),
    files: z.object({
      storage: z.enum(['folder', 's3']),
      maxFileBytes: z.number(),
      used: z
        .object({
          bytes: z.number(),
          files: z.number(),
          companies: z.number(),
          unreadable: z.number().openapi({ description: 'Companies whose storage could not be listed (not counted)' }),
          measuredAt: z.string(),
        })
        .openapi({ description: 'Document files of every company, as the storage lists them, summed at most once a minute' }),
    }),
    tenantSchema: z.object({
      latest: z.string().nullable(),
      versions: z.array(z.object({ version: z.string().nullable(), companies: z.number() })),
      behind: z.number(),
      failed: z.array(z.object({ companyId: z.string(), slug: z.string(), version: z.string().nullable(), error: z.string() })),
    }),
  })
  .openapi('SystemStatus');

export function registerSystemStatus(app: App, ctx: SiloContext) {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/system/status',
      operationId: 'getSystemStatus',
      tags: ['system'],
      summary: 'Companies by status, servers, tenant schema versions',
      security: bearer,
      middleware: [requireAuth(ctx, ['system_admin'])] as const,
      responses: { 200: json(StatusSchema, 'Status') },
    }),
    async (c) => c.json(await systemStatus(ctx), 200),
  );
}
