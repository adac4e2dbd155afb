// DELETE /api/companies/:company with X-Confirm: <slug>: drops the database and role (a Neon
// project: deletes it), keeps the row. An external database is detached unless ?dropDatabase=true.
// Its backups stay (a deleted company can still be restored as a new one) unless ?keepBackups=false.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { removeCompanyBackups } from '../../../operations/backups/backups.ts';
import { deleteCompany } from '../../../operations/companies.ts';
import { toCompanyView } from '../../../control-plane/company-records.ts';
import { actorOf, type App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import { bearer, CompanyParam, CompanySchema, errors, json } from '../../schemas.ts';

export function registerDeleteCompany(app: App, ctx: SiloContext) {
  app.openapi(
    createRoute({
      method: 'delete',
      path: '/api/companies/{company}',
      operationId: 'deleteCompany',
      tags: ['companies'],
      summary: 'Delete a company: its database and role are dropped (an external one is detached), the row is kept as deleted',
      security: bearer,
      middleware: [requireAuth(ctx, ['system_admin'])] as const,
      request: {
        params: CompanyParam,
        headers: z.object({ 'x-confirm': z.string().max(64).optional().openapi({ description: "The company's slug" }) }),
        query: z.object({
          dropDatabase: z
            .enum(['true', 'false'])
            .optional()
            .openapi({ description: 'external companies only: drop the database too (its login must own it); default: detach' }),
          force: z.enum(['true', 'false']).optional().openapi({
            description:
              'true: when the database cannot be reached (its server is gone for good), mark the company deleted all the same and record what was left; `silo reconcile` reports it',
          }),
          keepBackups: z
            .enum(['true', 'false'])
            .optional()
            .openapi({ description: "false: remove the company's backups and their archives too; default: keep them" }),
        }),
      },
      responses: {
        200: json(CompanySchema, 'The company, deleted'),
        409: errors[409],
        503: errors[503],
      },
    }),
    async (c) => {
      const deleted = await deleteCompany(ctx, c.req.valid('param').company, c.req.header('x-confirm'), actorOf(c.get('auth')), {
        dropDatabase: c.req.valid('query').dropDatabase === 'true',
        force: c.req.valid('query').force === 'true',
      });
      if (c.req.valid('query').keepBackups === 'false') await removeCompanyBackups(ctx, deleted.id);
      return c.json(toCompanyView(deleted), 200);
    },
  );
}
