// GET /api/companies (a page, filtered) and GET /api/companies/:company.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { companyStatuses } from '../../../control-plane/schema.ts';
import { listCompanies } from '../../../operations/companies.ts';
import { getCompany, toCompanyView } from '../../../control-plane/company-records.ts';
import type { App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import { bearer, CompanyParam, CompanySchema, json, PageQuery, pageOf } from '../../schemas.ts';

export function registerReadCompanies(app: App, ctx: SiloContext) {
  const adminOnly = requireAuth(ctx, ['system_admin']);
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/companies',
      operationId: 'listCompanies',
      tags: ['companies'],
      summary: 'List companies, newest first (deleted ones only with status=deleted)',
      security: bearer,
      middleware: [adminOnly] as const,
      request: {
        query: PageQuery.extend({ status: z.enum(companyStatuses).optional(), q: z.string().max(200).optional() }),
      },
      responses: {
        200: json(pageOf(CompanySchema), 'A page'),
      },
    }),
    async (c) => {
      const page = await listCompanies(ctx, c.req.valid('query'));
      return c.json({ items: page.items.map(toCompanyView), nextCursor: page.nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/companies/{company}',
      operationId: 'getCompany',
      tags: ['companies'],
      summary: 'One company, by id or slug',
      security: bearer,
      middleware: [adminOnly] as const,
      request: { params: CompanyParam },
      responses: { 200: json(CompanySchema, 'The company') },
    }),
    async (c) => c.json(toCompanyView(await getCompany(ctx, c.req.valid('param').company)), 200),
  );
}
