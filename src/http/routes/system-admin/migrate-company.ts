// POST /api/companies/:company/migrate: applies pending tenant migrations to one company.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { migrateCompanyOnRequest } from '../../../operations/migrations/company-migrations.ts';
import { getCompany } from '../../../control-plane/company-records.ts';
import { actorOf, type App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import { bearer, CompanyParam, errors, json } from '../../schemas.ts';

const MigrationResult = z
  .object({
    companyId: z.string(),
    slug: z.string(),
    status: z.enum(['migrated', 'current', 'failed']),
    applied: z.array(z.string()),
    fromVersion: z.string().nullable(),
    version: z.string().nullable(),
    pending: z.array(z.string()),
    drift: z.array(z.object({ tag: z.string(), appliedHash: z.string(), fileHash: z.string() })),
    durationMs: z.number(),
    error: z.string().optional(),
    failedMigration: z.string().optional(),
  })
  .openapi('CompanyMigrationResult');

export function registerMigrateCompany(app: App, ctx: SiloContext) {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/companies/{company}/migrate',
      operationId: 'migrateCompany',
      tags: ['companies'],
      summary: 'Apply pending tenant migrations to one company (status "failed" when one fails: it rolled back alone)',
      security: bearer,
      middleware: [requireAuth(ctx, ['system_admin'])] as const,
      request: { params: CompanyParam },
      responses: {
        200: json(MigrationResult, 'What was applied'),
        409: errors[409],
      },
    }),
    async (c) => {
      const company = await getCompany(ctx, c.req.valid('param').company);
      return c.json(await migrateCompanyOnRequest(ctx, company, { actor: actorOf(c.get('auth')) }), 200);
    },
  );
}
