// /api/documents: a company's documents, with full-text search (`q`) and a tag filter. Any company
// user may read and write them.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { createDocument, getDocument, listDocuments, updateDocument } from '../../../data-plane/company-plane/documents.ts';
import { deleteDocumentWithFiles } from '../../../data-plane/company-plane/files.ts';
import { fileStorage } from '../../../data-plane/files/index.ts';
import type { App } from '../../env.ts';
import { errors, json, jsonBody, jsonObject, PageQuery, text, pageOf } from '../../schemas.ts';
import { templateKeySchema } from '../../../base/template-rules.ts';
import { createDocumentFromTemplate } from '../../../data-plane/company-plane/templates.ts';
import { companyRoute, IdParam } from './common.ts';

const title = text(500);
// The body limit (1 MB by default) bounds the content.
const content = text(Number.MAX_SAFE_INTEGER, { trim: false, empty: true });
const tags = z.array(text(100)).max(50);
const metadata = jsonObject();

const DocumentSchema = z
  .object({
    id: z.string().uuid(),
    title: z.string(),
    content: z.string(),
    tags: z.array(z.string()),
    metadata: z.record(z.string(), z.unknown()),
    createdBy: z.string().uuid().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Document');

// Either the document itself, or `fromTemplate` (and perhaps a title of its own): the template's
// content and tags, and its title unless one is given.
const CreateDocumentBody = z
  .object({
    title: title.optional().openapi({ description: 'Required unless fromTemplate is given' }),
    content: content.optional().openapi({ description: 'Required unless fromTemplate is given' }),
    tags: tags.optional(),
    metadata: metadata.optional(),
    fromTemplate: templateKeySchema
      .optional()
      .openapi({ description: 'The key of a template the company sees (GET /api/templates): its own, else the shared one' }),
  })
  .superRefine((body, check) => {
    const problem = (path: string, message: string) => check.addIssue({ code: 'custom', path: [path], message });
    if (body.fromTemplate !== undefined) {
      for (const field of ['content', 'tags', 'metadata'] as const)
        if (body[field] !== undefined) problem(field, 'comes from the template: give only fromTemplate and perhaps a title');
      return;
    }
    if (body.title === undefined) problem('title', 'required (or give fromTemplate)');
    if (body.content === undefined) problem('content', 'required (or give fromTemplate)');
  })
  .openapi('CreateDocumentRequest');

const UpdateDocumentBody = z
  .object({ title: title.optional(), content: content.optional(), tags: tags.optional(), metadata: metadata.optional() })
  .refine((b) => Object.values(b).some((v) => v !== undefined), 'give at least one field to change')
  .openapi('UpdateDocumentRequest');

const DocumentQuery = PageQuery.extend({
  q: text(1000, { empty: true }).optional().openapi({ description: 'Full-text search (web search syntax: words, "phrases", or, -not)' }),
  tag: text(100).optional().openapi({ description: 'Only documents with this tag' }),
});

export function registerDocumentRoutes(app: App, ctx: SiloContext) {
  const common = companyRoute(ctx, 'documents');

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/documents',
      operationId: 'listDocuments',
      summary: 'Documents: newest first, or with q the best matches first',
      request: { query: DocumentQuery },
      responses: {
        200: json(pageOf(DocumentSchema), 'A page'),
      },
    }),
    async (c) => c.json(await listDocuments(c.get('tenant').db, c.req.valid('query')), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/api/documents',
      operationId: 'createDocument',
      summary: 'Add a document, or make one from a template',
      request: { body: jsonBody(CreateDocumentBody) },
      responses: { 201: json(DocumentSchema, 'The document'), 404: errors[404] },
    }),
    async (c) => {
      const { db } = c.get('tenant');
      const { title, content, tags, metadata, fromTemplate } = c.req.valid('json');
      const author = c.get('auth').sub;
      const document =
        fromTemplate !== undefined
          ? await createDocumentFromTemplate(db, ctx.shared, author, { fromTemplate, title })
          : // The schema's refinement made sure of both.
            await createDocument(db, author, { title: title!, content: content!, tags, metadata });
      return c.json(document, 201);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/documents/{id}',
      operationId: 'getDocument',
      summary: 'One document',
      request: { params: IdParam },
      responses: { 200: json(DocumentSchema, 'The document') },
    }),
    async (c) => c.json(await getDocument(c.get('tenant').db, c.req.valid('param').id), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'patch',
      path: '/api/documents/{id}',
      operationId: 'updateDocument',
      summary: 'Change a document; tags and metadata are replaced whole',
      request: { params: IdParam, body: jsonBody(UpdateDocumentBody) },
      responses: { 200: json(DocumentSchema, 'The document') },
    }),
    async (c) => c.json(await updateDocument(c.get('tenant').db, c.req.valid('param').id, c.req.valid('json')), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'delete',
      path: '/api/documents/{id}',
      operationId: 'deleteDocument',
      summary: 'Remove a document with its files',
      request: { params: IdParam },
      responses: { 204: { description: 'Removed' } },
    }),
    async (c) => {
      const { company, db } = c.get('tenant');
      await deleteDocumentWithFiles(db, fileStorage(ctx.config), company, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
}
