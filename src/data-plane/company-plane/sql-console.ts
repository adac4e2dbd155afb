// The SQL console's records in a company's own database: the history of what its admins ran, the
// queries they saved (question and SQL, searchable by the question), and the company's tables and
// columns as its role sees them. The runs themselves go through the read-only executor.
import { and, eq, sql } from 'drizzle-orm';
import { notFound, pgCode, SiloError } from '../../base/errors.ts';
import { keyset, toPage, type Page, type PageRequest } from '../../base/pagination.ts';
import type { TenantDb } from '../tenant-db.ts';
import { rowsOf } from '../tenant-db.ts';
import { savedQueries, sqlHistory } from '../schema.ts';

export interface HistoryEntry {
  id: string;
  userId: string | null;
  sql: string;
  ok: boolean;
  rowCount: number | null;
  ms: number;
  error?: string;
  createdAt: string;
}

export interface SavedQuery {
  id: string;
  question: string;
  sql: string;
  createdBy: string | null;
  createdAt: string;
}

export interface SchemaTable {
  schema: string;
  name: string;
  columns: { name: string; type: string; nullable: boolean }[];
}

/** Records one run; its error is the database's message that the caller was answered with. */
export async function recordRun(
  db: TenantDb,
  entry: { userId: string; sql: string; ok: boolean; rowCount: number | null; ms: number; error?: string | undefined },
): Promise<void> {
  await db.insert(sqlHistory).values({ ...entry, error: entry.error ?? null });
}

export async function listHistory(db: TenantDb, query: PageRequest): Promise<Page<HistoryEntry>> {
  const page = keyset({ createdAt: sqlHistory.createdAt, id: sqlHistory.id }, query);
  const rows = await db
    .select()
    .from(sqlHistory)
    .where(page.where)
    .orderBy(...page.orderBy)
    .limit(page.limit);
  return toPage(rows, query.limit, (row) => ({
    id: row.id,
    userId: row.userId,
    sql: row.sql,
    ok: row.ok,
    rowCount: row.rowCount,
    ms: row.ms,
    ...(row.error === null ? {} : { error: row.error }),
    createdAt: row.createdAt.toISOString(),
  }));
}

const savedColumns = {
  id: savedQueries.id,
  question: savedQueries.question,
  sql: savedQueries.sql,
  createdBy: savedQueries.createdBy,
  createdAt: savedQueries.createdAt,
};

const toSaved = (row: { id: string; question: string; sql: string; createdBy: string | null; createdAt: Date }): SavedQuery => ({
  ...row,
  createdAt: row.createdAt.toISOString(),
});

export async function saveQuery(db: TenantDb, createdBy: string, input: { question: string; sql: string }): Promise<SavedQuery> {
  try {
    const [row] = await db
      .insert(savedQueries)
      .values({ ...input, createdBy })
      .returning(savedColumns);
    return toSaved(row!);
  } catch (error) {
    // created_by references users: a token that outlived its user.
    if (pgCode(error) === '23503') throw new SiloError('unauthorized', 'the user of this token no longer exists');
    throw error;
  }
}

/** Newest first; with `q`, the questions that match best first (full-text rank). */
export async function listSaved(db: TenantDb, query: PageRequest & { q?: string | undefined }): Promise<Page<SavedQuery>> {
  const q = query.q?.trim() || undefined;
  const tsquery = q ? sql`websearch_to_tsquery('english', ${q})` : undefined;
  const rank = tsquery ? sql<number>`ts_rank(${savedQueries.search}, ${tsquery})::float8` : undefined;
  const page = keyset({ ...(rank ? { rank } : {}), createdAt: savedQueries.createdAt, id: savedQueries.id }, query);
  const rows = await db
    .select({ ...savedColumns, ...(rank ? { rank } : {}) })
    .from(savedQueries)
    .where(and(tsquery ? sql`${savedQueries.search} @@ ${tsquery}` : undefined, page.where))
    .orderBy(...page.orderBy)
    .limit(page.limit);
  return toPage(rows, query.limit, ({ rank: _rank, ...row }) => toSaved(row));
}

export async function deleteSaved(db: TenantDb, id: string): Promise<void> {
  const deleted = await db.delete(savedQueries).where(eq(savedQueries.id, id)).returning({ id: savedQueries.id });
  if (deleted.length === 0) throw notFound('saved query');
}

/**
 * The tables and views of the company's database with their columns, outside PostgreSQL's own
 * schemas. information_schema lists only what the role has some privilege on, which in its own
 * database is everything it owns.
 */
export async function describeSchema(db: TenantDb): Promise<{ tables: SchemaTable[] }> {
  const rows = rowsOf<{ schema: string; table: string; column: string; type: string; nullable: boolean }>(
    await db.execute(sql`
      select c.table_schema as schema, c.table_name as table, c.column_name as column,
             pg_catalog.format_type(a.atttypid, a.atttypmod) as type, c.is_nullable = 'YES' as nullable
      from information_schema.columns c
      join pg_catalog.pg_attribute a
        on a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass and a.attname = c.column_name
      where c.table_schema not in ('pg_catalog', 'information_schema') and c.table_schema not like 'pg\\_%'
      order by c.table_schema, c.table_name, c.ordinal_position`),
  );
  const tables = new Map<string, SchemaTable>();
  for (const row of rows) {
    const key = `${row.schema}.${row.table}`;
    let table = tables.get(key);
    if (!table) {
      table = { schema: row.schema, name: row.table, columns: [] };
      tables.set(key, table);
    }
    table.columns.push({ name: row.column, type: row.type, nullable: row.nullable });
  }
  return { tables: [...tables.values()] };
}
