// POST /api/companies/:company/move: moves the company's database to another server and answers
// when it is served from there.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { moveCompany } from '../../../operations/scale-out/move-company.ts';
import { toCompanyView } from '../../../control-plane/company-records.ts';
import { actorOf, type App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import { bearer, CompanyParam, CompanySchema, errors, ErrorSchema, json, jsonBody } from '../../schemas.ts';

const MoveCompanyBody = z.object({ serverId: z.uuid() }).openapi('MoveCompanyRequest');

const MovedCompany = CompanySchema.extend({
  move: z.object({
    fromServerId: z.string(),
    toServerId: z.string(),
    via: z.enum(['template', 'migrations']).openapi({ description: 'How the new database got its schema' }),
    tables: z.array(z.object({ name: z.string(), rows: z.number(), bytes: z.number() })),
    rows: z.number(),
    bytes: z.number().openapi({ description: 'COPY text carried' }),
    durationMs: z.number(),
    copyMs: z.number(),
    writesHeldMs: z.number().openapi({ description: 'How long writes answered 503' }),
    oldDatabaseDropped: z.boolean().openapi({ description: 'false: "silo reconcile" drops it later' }),
  }),
}).openapi('MovedCompany');

export function registerMoveCompany(app: App, ctx: SiloContext) {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/companies/{company}/move',
      operationId: 'moveCompany',
      tags: ['companies'],
      summary: "Move the company's database to another server: copied, verified, switched, the old one dropped",
      description:
        'Writes to the company answer 503 with Retry-After while its data is copied; reads go on. ' +
        'On any failure before the switch the company stays on its old server, untouched.',
      security: bearer,
      middleware: [requireAuth(ctx, ['system_admin'])] as const,
      request: { params: CompanyParam, body: jsonBody(MoveCompanyBody) },
      responses: {
        200: json(MovedCompany, 'The company, served from the new server'),
        409: errors[409],
        500: json(ErrorSchema, 'The move failed before the switch; the company stays on its old server (details: step, reason)'),
      },
    }),
    async (c) => {
      const { company, move } = await moveCompany(ctx, c.req.valid('param').company, c.req.valid('json').serverId, actorOf(c.get('auth')));
      const { companyId: _id, slug: _slug, ...figures } = move;
      return c.json({ ...toCompanyView(company), move: figures }, 200);
    },
  );
}
