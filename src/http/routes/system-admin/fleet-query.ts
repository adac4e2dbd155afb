// POST /api/fleet/query: one read-only SQL statement over many companies (docs/querying.md). The
// answer streams as NDJSON, one line per company as it finishes, then a summary line; a company's
// failure is its own line and never stops the others.
import { Readable } from 'node:stream';
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { fleetQuery } from '../../../operations/querying/fleet-query.ts';
import type { App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import { bearer, errors, jsonBody, text } from '../../schemas.ts';

const companyName = text(100).openapi({ description: 'A company id or slug' });

export const FleetQueryBody = z
  .object({
    sql: text(100_000, { trim: false }),
    params: z
      .array(z.union([z.string(), z.number(), z.boolean(), z.null()]))
      .max(1000)
      .optional(),
    only: z.array(companyName).max(10_000).optional().openapi({ description: 'Only these companies' }),
    exclude: z.array(companyName).max(10_000).optional().openapi({ description: 'All but these companies' }),
    concurrency: z.number().int().min(1).max(256).optional().openapi({
      description: 'Companies queried at once (default 8); each server also takes at most as many as the pool map lets it hold',
    }),
    timeoutMs: z
      .number()
      .int()
      .min(1)
      .max(600_000)
      .optional()
      .openapi({ description: 'Statement timeout per company (never above SILO_SQL_STATEMENT_TIMEOUT_MS)' }),
    maxRows: z.number().int().min(1).max(100_000).optional().openapi({ description: 'Rows per company (never above SILO_SQL_MAX_ROWS)' }),
  })
  .openapi('FleetQueryRequest');

const CompanyRef = z.object({ id: z.uuid(), slug: z.string() });
const Column = z.object({ name: z.string(), type: z.string() });

/** One line of the answer. */
const FleetLineSchema = z
  .union([
    z.object({
      company: CompanyRef,
      ok: z.literal(true),
      columns: z.array(Column),
      rows: z.array(z.array(z.unknown())),
      rowCount: z.number().int(),
      truncated: z.boolean(),
      ms: z.number(),
    }),
    z.object({
      company: CompanyRef,
      ok: z.literal(false),
      skipped: z.literal(true).optional(),
      error: z.object({ code: z.string(), message: z.string(), sqlState: z.string().optional() }),
      ms: z.number().optional(),
    }),
    z.object({
      summary: z.object({
        companies: z.number().int(),
        succeeded: z.number().int(),
        failed: z.number().int(),
        skipped: z.number().int(),
        ms: z.number(),
      }),
    }),
  ])
  .openapi('FleetQueryLine');

export function registerFleetQuery(app: App, ctx: SiloContext) {
  app.openapi(
    createRoute({
      tags: ['fleet'],
      security: bearer,
      middleware: [requireAuth(ctx, ['system_admin'])],
      method: 'post',
      path: '/api/fleet/query',
      operationId: 'fleetQuery',
      summary: 'Run one read-only SQL statement over many companies',
      description:
        'Each company runs it as its own role, read-only, under its own timeout. Lines: `{ company: { id, slug }, ok: true, columns, rows, rowCount, truncated, ms }`, ' +
        '`{ company, ok: false, error: { code, message, sqlState? }, ms }`, for a company not queried (suspended, archived, provisioning, moving) ' +
        '`{ company, ok: false, skipped: true, error: { code: "skipped", message } }`, and last `{ summary: { companies, succeeded, failed, skipped, ms } }`.',
      request: { body: jsonBody(FleetQueryBody) },
      responses: {
        200: {
          description: 'One JSON document per line (each as the schema says), as companies finish',
          content: { 'application/x-ndjson': { schema: FleetLineSchema } },
        },
        400: errors[400],
      },
    }),
    async (c) => {
      // Unknown companies answer 400 here, before the stream starts.
      const { lines } = await fleetQuery(ctx, c.req.valid('json'));
      const body = Readable.from(
        (async function* () {
          for await (const line of lines) yield Buffer.from(`${JSON.stringify(line)}\n`);
        })(),
      );
      // A media type with "json" in it is typed as c.json()'s: a stream of lines has to be cast.
      return c.body(Readable.toWeb(body) as ReadableStream, 200, { 'Content-Type': 'application/x-ndjson' }) as never;
    },
  );
}
