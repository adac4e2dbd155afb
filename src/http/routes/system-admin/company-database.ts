// Looking into a company's database: /stats, /database/test, /logs.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { companyLogs, companyStats, testCompanyDatabase } from '../../../operations/companies.ts';
import type { App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import { bearer, CompanyParam, errors, json, PageQuery, pageOf } from '../../schemas.ts';

const StatsSchema = z
  .object({
    databaseSizeBytes: z.number(),
    storageBytes: z.number().openapi({ description: "Bytes of the company's document files" }),
    files: z.number(),
    maxStorageBytes: z.number().nullable().openapi({ description: 'Its plan’s limit on storageBytes; null: none' }),
    rowsPerTable: z.record(z.string(), z.number()),
    users: z.number(),
    documents: z.number(),
    openConnections: z.number(),
  })
  .openapi('CompanyStats');

const DatabaseTestSchema = z
  .object({
    ok: z.boolean(),
    latencyMs: z.number(),
    serverVersion: z.string().nullable().openapi({ description: 'null when ok is false' }),
    schemaVersion: z.string().nullable(),
    pendingMigrations: z.number().nullable().openapi({ description: 'null when ok is false' }),
    reason: z.string().optional().openapi({ description: 'Why the test failed (ok: false): unreachable, or the login refused' }),
  })
  .openapi('DatabaseTest');

const LogSchema = z
  .object({
    id: z.number(),
    action: z.string(),
    status: z.enum(['ok', 'failed']),
    actor: z.string(),
    durationMs: z.number().nullable(),
    error: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
    serverId: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('CompanyDatabaseLog');

export function registerCompanyDatabaseRoutes(app: App, ctx: SiloContext) {
  const adminOnly = requireAuth(ctx, ['system_admin']);
  const common = { tags: ['companies'], security: bearer, middleware: [adminOnly] };
  const failures = { 409: errors[409] };

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/companies/{company}/stats',
      operationId: 'getCompanyStats',
      summary: 'Database size, file storage used and allowed, rows per table, users, documents, open connections',
      request: { params: CompanyParam },
      responses: { 200: json(StatsSchema, 'Figures'), ...failures },
    }),
    async (c) => c.json(await companyStats(ctx, c.req.valid('param').company), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/companies/{company}/database/test',
      operationId: 'testCompanyDatabase',
      summary: "Connect as the company's role and report",
      request: { params: CompanyParam },
      responses: { 200: json(DatabaseTestSchema, 'Result'), ...failures },
    }),
    async (c) => c.json(await testCompanyDatabase(ctx, c.req.valid('param').company), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/companies/{company}/logs',
      operationId: 'listCompanyLogs',
      summary: "The company's database operation log, newest first",
      request: { params: CompanyParam, query: PageQuery },
      responses: {
        200: json(pageOf(LogSchema), 'A page'),
        ...failures,
      },
    }),
    async (c) => {
      const query = c.req.valid('query');
      return c.json(await companyLogs(ctx, c.req.valid('param').company, query.limit, query.cursor), 200);
    },
  );
}
