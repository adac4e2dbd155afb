// /api/health/tenant and /api/health/tenant/tables: the caller's company database, as seen by it.
import { createRoute, z } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import type { SiloContext } from '../../../context.ts';
import { rowsOf } from '../../../data-plane/tenant-db.ts';
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
      const started = performance.now();
      const [row] = rowsOf<{ database: string; tables: number }>(
        await db.execute(sql`
          select current_database() as database,
                 (select count(*)::int from pg_tables where schemaname = 'public') as tables`),
      );
      const latencyMs = Math.round((performance.now() - started) * 100) / 100;
      return c.json(
        {
          company: { id: company.id, slug: company.slug },
          database: row!.database,
          connected: true,
          schemaVersion: company.schemaVersion,
          tables: row!.tables,
          latencyMs,
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
      const rows = rowsOf<{ name: string; schema: string; estimated_rows: number }>(
        await c.get('tenant').db.execute(sql`
          select c.relname as name, n.nspname as schema, greatest(c.reltuples, 0)::bigint::int as estimated_rows
          from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where c.relkind = 'r' and n.nspname = 'public' order by c.relname`),
      );
      return c.json({ items: rows.map((r) => ({ name: r.name, schema: r.schema, estimatedRows: r.estimated_rows })) }, 200);
    },
  );
}
