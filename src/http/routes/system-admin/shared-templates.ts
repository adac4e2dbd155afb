// /api/shared/templates: the document templates every company sees (docs/shared-data.md), kept in
// the shared reference database. System admins only; companies read them through /api/templates.
import { createRoute, z } from '@hono/zod-openapi';
import { templateFieldSchemas } from '../../../base/template-rules.ts';
import type { SiloContext } from '../../../context.ts';
import {
  createSharedTemplate,
  deleteSharedTemplate,
  listSharedTemplates,
  updateSharedTemplate,
} from '../../../control-plane/shared-templates.ts';
import type { App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import { bearer, errors, json, jsonBody, PageQuery, pageOf, TemplateContentBody, TemplateKeyParam, TemplateSchema } from '../../schemas.ts';

export const CreateSharedTemplateBody = TemplateContentBody.extend({ key: TemplateKeyParam.shape.key })
  .strict()
  .openapi('CreateSharedTemplateRequest');

export const UpdateSharedTemplateBody = z
  .object({
    title: templateFieldSchemas.title.optional(),
    content: templateFieldSchemas.content.optional(),
    tags: templateFieldSchemas.tags.optional(),
  })
  .strict()
  .refine((b) => Object.values(b).some((v) => v !== undefined), 'give at least one of title, content, tags')
  .openapi('UpdateSharedTemplateRequest');

export function registerSharedTemplateRoutes(app: App, ctx: SiloContext) {
  const common = { tags: ['shared'], security: bearer, middleware: [requireAuth(ctx, ['system_admin'])] };

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/shared/templates',
      operationId: 'listSharedTemplates',
      summary: 'Shared document templates, in key order',
      request: { query: PageQuery },
      responses: { 200: json(pageOf(TemplateSchema), 'A page') },
    }),
    async (c) => c.json(await listSharedTemplates(ctx.shared, c.req.valid('query')), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/api/shared/templates',
      operationId: 'createSharedTemplate',
      summary: 'Add a shared template: every company sees it unless it has its own with the same key',
      request: { body: jsonBody(CreateSharedTemplateBody) },
      responses: { 201: json(TemplateSchema, 'The template'), 409: errors[409] },
    }),
    async (c) => {
      const { key, ...fields } = c.req.valid('json');
      return c.json(await createSharedTemplate(ctx.shared, key, fields), 201);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'patch',
      path: '/api/shared/templates/{key}',
      operationId: 'updateSharedTemplate',
      summary: 'Change a shared template; tags are replaced whole',
      request: { params: TemplateKeyParam, body: jsonBody(UpdateSharedTemplateBody) },
      responses: { 200: json(TemplateSchema, 'The template') },
    }),
    async (c) => c.json(await updateSharedTemplate(ctx.shared, c.req.valid('param').key, c.req.valid('json')), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'delete',
      path: '/api/shared/templates/{key}',
      operationId: 'deleteSharedTemplate',
      summary: "Remove a shared template (documents made from it keep their content; companies' own templates stay)",
      request: { params: TemplateKeyParam },
      responses: { 204: { description: 'Removed' } },
    }),
    async (c) => {
      await deleteSharedTemplate(ctx.shared, c.req.valid('param').key);
      return c.body(null, 204);
    },
  );
}
