// /api/documents: a company's documents, with full-text search (`q`) and a tag filter. Any company
// user may read and write them.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { createDocument, getDocument, listDocuments, updateDocument } from '../../../data-plane/company-plane/documents.ts';
import { deleteDocumentWithFiles } from '../../../data-plane/company-plane/files.ts';
import { fileStorage } from '../../../data-plane/files/index.ts';
import type { App } from '../../env.ts';
import { json, jsonBody, jsonObject, PageQuery, text, pageOf } from '../../schemas.ts';
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

const CreateDocumentBody = z
  .object({ title, content, tags: tags.optional(), metadata: metadata.optional() })
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
      summary: 'Add a document',
      request: { body: jsonBody(CreateDocumentBody) },
      responses: { 201: json(DocumentSchema, 'The document') },
    }),
    async (c) => c.json(await createDocument(c.get('tenant').db, c.get('auth').sub, c.req.valid('json')), 201),
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
