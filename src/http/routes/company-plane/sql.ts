// /api/sql: the company SQL console, for company admins. SQL runs read-only as the company's own
// role (docs/querying.md); history and saved queries are kept in the company's own database.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { deleteSaved, describeSchema, listHistory, listSaved, saveQuery } from '../../../data-plane/company-plane/sql-console.ts';
import { askSql } from '../../../operations/querying/ask.ts';
import { runConsoleSql } from '../../../operations/querying/console.ts';
import type { App } from '../../env.ts';
import { errors, json, jsonBody, PageQuery, pageOf, text } from '../../schemas.ts';
import { companyRoute, IdParam } from './common.ts';

// SQL and the saved question are kept as written.
const sqlText = text(100_000, { trim: false });
const SqlParam = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const RunSqlBody = z
  .object({
    sql: sqlText,
    params: z
      .array(SqlParam)
      .max(1000)
      .optional()
      .openapi({ description: 'Values for $1, $2, ...: always bound, never pasted into the SQL' }),
    maxRows: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .optional()
      .openapi({ description: 'At most this many rows (and never more than SILO_SQL_MAX_ROWS)' }),
  })
  .openapi('RunSqlRequest');

export const SqlResultSchema = z
  .object({
    columns: z.array(z.object({ name: z.string(), type: z.string() })),
    rows: z.array(z.array(z.unknown())),
    rowCount: z.number().int(),
    truncated: z.boolean().openapi({ description: 'More rows were there than were returned' }),
    ms: z.number(),
  })
  .openapi('SqlResult');

const HistoryEntrySchema = z
  .object({
    id: z.uuid(),
    userId: z.uuid().nullable(),
    sql: z.string(),
    ok: z.boolean(),
    rowCount: z.number().int().nullable(),
    ms: z.number(),
    error: z.string().optional(),
    createdAt: z.string(),
  })
  .openapi('SqlHistoryEntry');

const SchemaSchema = z
  .object({
    tables: z.array(
      z.object({
        schema: z.string(),
        name: z.string(),
        columns: z.array(z.object({ name: z.string(), type: z.string(), nullable: z.boolean() })),
      }),
    ),
  })
  .openapi('SqlSchema');

const SavedQuerySchema = z
  .object({ id: z.uuid(), question: z.string(), sql: z.string(), createdBy: z.uuid().nullable(), createdAt: z.string() })
  .openapi('SavedQuery');

const SaveQueryBody = z.object({ question: text(2000), sql: sqlText }).openapi('SaveQueryRequest');

const AskBody = z
  .object({
    question: text(2000),
    run: z.boolean().optional().openapi({ description: 'Also run the SQL (read-only) and include its result' }),
  })
  .openapi('AskSqlRequest');

const AskAnswerSchema = z
  .object({
    sql: z.string(),
    source: z.enum(['saved', 'assistant']).openapi({ description: 'A saved query of the company, or the SQL assistant' }),
    savedId: z.uuid().optional().openapi({ description: 'The saved query, when source is saved' }),
    result: SqlResultSchema.optional().openapi({ description: 'With run: the result' }),
  })
  .openapi('AskSqlAnswer');

const SavedQuery = PageQuery.extend({
  q: text(1000, { empty: true }).optional().openapi({ description: 'Full-text search in the questions' }),
});

export function registerSqlRoutes(app: App, ctx: SiloContext) {
  const common = companyRoute(ctx, 'sql', { adminOnly: true });

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/api/sql',
      operationId: 'runSql',
      summary: "Run one SQL statement read-only on the company's database",
      description:
        "Runs as the company's own role in a READ ONLY transaction, under a statement timeout and a row cap. A write, a second statement, a timeout or any SQL error answers 400 with the database's message and details.sqlState.",
      request: { body: jsonBody(RunSqlBody) },
      responses: { 200: json(SqlResultSchema, 'The result') },
    }),
    async (c) => c.json(await runConsoleSql(ctx, c.get('tenant'), c.get('auth').sub, c.req.valid('json')), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/api/sql/ask',
      operationId: 'askSql',
      summary: 'SQL for a question: a saved query that matches it well, or the SQL assistant',
      description:
        "The company's saved query whose question matches best by full-text search, when every word of the question is in it; otherwise, when an SQL assistant is configured, its answer, asked with this company's tables and nearest saved queries only. " +
        'No match and no assistant: 404. The assistant unreachable, too slow or answering no SQL: 503. With run, the SQL runs as POST /api/sql does (a refusal answers 400 with details.sqlState).',
      request: { body: jsonBody(AskBody) },
      responses: {
        200: json(AskAnswerSchema, 'The SQL, where it came from, and with run its result'),
        404: errors[404],
      },
    }),
    async (c) => c.json(await askSql(ctx, c.get('tenant'), c.get('auth').sub, c.req.valid('json')), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/sql/history',
      operationId: 'listSqlHistory',
      summary: "The company's SQL runs, newest first",
      request: { query: PageQuery },
      responses: { 200: json(pageOf(HistoryEntrySchema), 'A page') },
    }),
    async (c) => c.json(await listHistory(c.get('tenant').db, c.req.valid('query')), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/sql/schema',
      operationId: 'getSqlSchema',
      summary: "The company's tables and views with their columns",
      responses: { 200: json(SchemaSchema, 'The tables') },
    }),
    async (c) => c.json(await describeSchema(c.get('tenant').db), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/api/sql/saved',
      operationId: 'saveSqlQuery',
      summary: 'Save a query with the question it answers',
      request: { body: jsonBody(SaveQueryBody) },
      responses: { 201: json(SavedQuerySchema, 'The saved query') },
    }),
    async (c) => c.json(await saveQuery(c.get('tenant').db, c.get('auth').sub, c.req.valid('json')), 201),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/sql/saved',
      operationId: 'listSavedSqlQueries',
      summary: 'Saved queries: newest first, or with q the best matching questions first',
      request: { query: SavedQuery },
      responses: { 200: json(pageOf(SavedQuerySchema), 'A page') },
    }),
    async (c) => c.json(await listSaved(c.get('tenant').db, c.req.valid('query')), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'delete',
      path: '/api/sql/saved/{id}',
      operationId: 'deleteSavedSqlQuery',
      summary: 'Remove a saved query',
      request: { params: IdParam },
      responses: { 204: { description: 'Removed' } },
    }),
    async (c) => {
      await deleteSaved(c.get('tenant').db, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
}
