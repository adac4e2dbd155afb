// /api/health/tenant and /api/health/tenant/tables: the caller's company database, as seen by it.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { databaseHealth, tableEstimates } from '../../../data-plane/company-plane/health.ts';
import type { App } from '../../env.ts';
import { json } from '../../schemas.ts';
import { companyRoute } from './common.ts';

const TableSchema = z.object({ name: z.string(), schema: z.string(), estimatedRows: z.number() });

export function registerTenantHealthRoutes(app: App, ctx: SiloContext) {
  const common = companyRoute(ctx, 'health');
  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/health/tenant',
      operationId: 'getTenantHealth',
      summary: "The company's database: connected, schema version, tables, latency",
      responses: {
        200: json(
          z.object({
            company: z.object({ id: z.string(), slug: z.string() }),
            database: z.string(),
            connected: z.boolean(),
            schemaVersion: z.string().nullable(),
            tables: z.number(),
            latencyMs: z.number(),
          }),
          'Health',
        ),
      },
    }),
    async (c) => {
      const { company, db } = c.get('tenant');
      const health = await databaseHealth(db);
      return c.json(
        {
          company: { id: company.id, slug: company.slug },
          database: health.database,
          connected: true,
          schemaVersion: company.schemaVersion,
          tables: health.tables,
          latencyMs: health.latencyMs,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/health/tenant/tables',
      operationId: 'listTenantTables',
      summary: "The company database's tables",
      responses: { 200: json(z.object({ items: z.array(TableSchema) }), 'Tables') },
    }),
    async (c) => {
      return c.json({ items: await tableEstimates(c.get('tenant').db) }, 200);
    },
  );
}
