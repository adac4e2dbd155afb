// A company's database as its own users see it: reachable, how many tables, how long a query takes
// (GET /api/health/tenant), and its tables with their estimated sizes.
import { sql } from 'drizzle-orm';
import type { TenantDb } from '../pool-map.ts';
import { rowsOf } from '../tenant-db.ts';

export interface DatabaseHealth {
  database: string;
  tables: number;
  /** The round trip of the query that answered this, in milliseconds (two decimals). */
  latencyMs: number;
}

export interface TableEstimate {
  name: string;
  schema: string;
  estimatedRows: number;
}

export async function databaseHealth(db: TenantDb): Promise<DatabaseHealth> {
  const started = performance.now();
  const [row] = rowsOf<{ database: string; tables: number }>(
    await db.execute(sql`
      select current_database() as database,
             (select count(*)::int from pg_tables where schemaname = 'public') as tables`),
  );
  const latencyMs = Math.round((performance.now() - started) * 100) / 100;
  return { database: row!.database, tables: row!.tables, latencyMs };
}

/** The tables of the public schema, with the planner's estimate of their rows. */
export async function tableEstimates(db: TenantDb): Promise<TableEstimate[]> {
  const rows = rowsOf<{ name: string; schema: string; estimated_rows: number }>(
    await db.execute(sql`
      select c.relname as name, n.nspname as schema, greatest(c.reltuples, 0)::bigint::int as estimated_rows
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind = 'r' and n.nspname = 'public' order by c.relname`),
  );
  return rows.map((r) => ({ name: r.name, schema: r.schema, estimatedRows: r.estimated_rows }));
}
