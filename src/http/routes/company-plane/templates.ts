// /api/templates: the document templates a company sees, the shared ones merged with its own (its
// own winning on the same key), each saying its source. Any company user reads them; company
// admins put and remove the company's own (docs/shared-data.md).
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { deleteCompanyTemplate, listMergedTemplates, putCompanyTemplate } from '../../../data-plane/company-plane/templates.ts';
import type { App } from '../../env.ts';
import { json, jsonBody, PageQuery, pageOf, TemplateContentBody, TemplateKeyParam, TemplateSchema } from '../../schemas.ts';
import { companyRoute } from './common.ts';

const CompanyTemplateSchema = TemplateSchema.extend({
  source: z.enum(['shared', 'company']).openapi({ description: "shared: from the shared reference data; company: the company's own" }),
}).openapi('CompanyTemplate');

export function registerTemplateRoutes(app: App, ctx: SiloContext) {
  const readers = companyRoute(ctx, 'templates');
  const admins = companyRoute(ctx, 'templates', { adminOnly: true });

  app.openapi(
    createRoute({
      ...readers,
      method: 'get',
      path: '/api/templates',
      operationId: 'listTemplates',
      summary: "Templates: the shared ones merged with the company's own, in key order",
      request: { query: PageQuery },
      responses: { 200: json(pageOf(CompanyTemplateSchema), 'A page') },
    }),
    async (c) => c.json(await listMergedTemplates(c.get('tenant').db, ctx.shared, c.req.valid('query')), 200),
  );

  app.openapi(
    createRoute({
      ...admins,
      method: 'put',
      path: '/api/templates/{key}',
      operationId: 'putTemplate',
      summary: "Write the company's own template with this key (overriding a shared one with the same key)",
      request: { params: TemplateKeyParam, body: jsonBody(TemplateContentBody.strict()) },
      responses: { 200: json(CompanyTemplateSchema, 'Replaced'), 201: json(CompanyTemplateSchema, 'Created') },
    }),
    async (c) => {
      const { template, created } = await putCompanyTemplate(c.get('tenant').db, c.req.valid('param').key, c.req.valid('json'));
      return created ? c.json(template, 201) : c.json(template, 200);
    },
  );

  app.openapi(
    createRoute({
      ...admins,
      method: 'delete',
      path: '/api/templates/{key}',
      operationId: 'deleteTemplate',
      summary: "Remove the company's own template (a shared one with the same key shows again)",
      request: { params: TemplateKeyParam },
      responses: { 204: { description: 'Removed' } },
    }),
    async (c) => {
      await deleteCompanyTemplate(c.get('tenant').db, c.req.valid('param').key);
      return c.body(null, 204);
    },
  );
}
