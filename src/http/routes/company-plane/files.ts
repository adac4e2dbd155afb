// /api/documents/:id/files: a document's files. Any company user may upload, list, download and
// remove them. The upload's body is the file itself, streamed (SILO_FILE_MAX_BYTES bounds it instead
// of the body limit); a download streams it back with its type, length and ETag (its SHA-256), and
// honours Range and If-None-Match. docs/files.md.
import type { HttpBindings } from '@hono/node-server';
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { invalid, SiloError } from '../../../base/errors.ts';
import { deleteFile, getFile, listFiles, openFile, uploadFile } from '../../../data-plane/company-plane/files.ts';
import { fileStorage } from '../../../data-plane/files/index.ts';
import { matchesETag, rangeOf } from '../../byte-ranges.ts';
import type { App } from '../../env.ts';
import { errors, json, text } from '../../schemas.ts';
import { companyRoute } from './common.ts';
import { Readable } from 'node:stream';

/** The upload's path, which the app's body limit leaves alone. */
export const FILE_UPLOAD_PATH = /^\/api\/documents\/[^/]+\/files$/;

const FileSchema = z
  .object({
    id: z.string().uuid(),
    documentId: z.string().uuid(),
    name: z.string(),
    contentType: z.string(),
    size: z.number().int(),
    sha256: z.string().openapi({ description: 'Hex SHA-256 of the bytes; the download’s ETag' }),
    createdBy: z.string().uuid().nullable(),
    createdAt: z.string(),
  })
  .openapi('DocumentFile');

const DocumentParam = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) });
const FileParams = DocumentParam.extend({ fileId: z.uuid().openapi({ param: { name: 'fileId', in: 'path' } }) });

// A file name is what a person named a file: no control characters, no folders.
const FileName = text(255).refine(
  (v) => ![...v].some((ch) => ch.charCodeAt(0) < 0x20 || ch === '\u007f' || ch === '/' || ch === '\\'),
  'must not contain control characters or slashes',
);
// A media type as RFC 9110 writes one, with parameters; stored and served back as given.
const MEDIA_TYPE = /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(\s*;[\x20-\x7e]*)?$/;

/** Content-Disposition for a download: attachment (never shown inline), the name encoded (RFC 6266). */
function disposition(name: string): string {
  const plain = name.replace(/[^\x20-\x7e]|["%\\]/g, '_');
  return `attachment; filename="${plain}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

const binary = (description: string) => ({ content: { '*/*': { schema: z.string().openapi({ format: 'binary' }) } }, description });

export function registerFileRoutes(app: App, ctx: SiloContext) {
  const common = companyRoute(ctx, 'documents');
  const storage = () => fileStorage(ctx.config);

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/api/documents/{id}/files',
      operationId: 'uploadDocumentFile',
      summary: 'Attach a file: the body is its bytes, its Content-Type the file’s type',
      description:
        'Streamed to the company’s storage and hashed on the way; stored whole or not at all. Over the company’s ' +
        'maxStorageBytes answers 409 limit_exceeded, over SILO_FILE_MAX_BYTES 413, before those bytes are stored.',
      request: {
        params: DocumentParam,
        query: z.object({ name: FileName.openapi({ description: 'The file’s name', example: 'invoice.pdf' }) }),
        body: { required: true, ...binary('The file') },
      },
      responses: { 201: json(FileSchema, 'The file'), 409: errors[409], 413: errors[413] },
    }),
    async (c) => {
      const { company, db } = c.get('tenant');
      const type = c.req.header('content-type')?.trim() || 'application/octet-stream';
      if (type.length > 255 || !MEDIA_TYPE.test(type)) {
        throw invalid('Content-Type is not a media type', [{ path: 'header.content-type', message: 'not a media type' }]);
      }
      const length = c.req.header('content-length');
      if (length !== undefined && !/^\d+$/.test(length)) throw invalid('Content-Length is not a number');
      // Served by @hono/node-server, Node's request itself: the web stream Hono would make of it
      // wraps it twice over, with promises for each 64 kB chunk (docs/files.md, "Performance").
      // Without one (app.request() in tests), that web stream.
      const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
      const body = incoming ?? c.req.raw.body ?? Readable.from([]);
      const file = await uploadFile(
        db,
        storage(),
        company,
        {
          documentId: c.req.valid('param').id,
          name: c.req.valid('query').name,
          contentType: type,
          createdBy: c.get('auth').sub,
          declaredBytes: length === undefined ? undefined : Number(length),
          maxBytes: ctx.config.files.maxBytes,
          maxStorageBytes: company.maxStorageBytes,
        },
        body as AsyncIterable<Uint8Array>,
      );
      return c.json(file, 201);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/documents/{id}/files',
      operationId: 'listDocumentFiles',
      summary: 'The document’s files, oldest first',
      request: { params: DocumentParam },
      responses: { 200: json(z.object({ items: z.array(FileSchema) }), 'The files') },
    }),
    async (c) => c.json({ items: await listFiles(c.get('tenant').db, c.req.valid('param').id) }, 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/documents/{id}/files/{fileId}',
      operationId: 'downloadDocumentFile',
      summary: 'The file’s bytes (Range honoured with 206; ETag and If-None-Match with 304)',
      request: { params: FileParams },
      responses: {
        200: binary('The file, with its Content-Type, Content-Length and ETag'),
        206: binary('The part that Range asked for, with Content-Range'),
        304: { description: 'If-None-Match named the file’s ETag' },
        416: errors[416],
      },
    }),
    async (c) => {
      const { company, db } = c.get('tenant');
      const { id, fileId } = c.req.valid('param');
      const file = await getFile(db, id, fileId);
      const etag = `"${file.sha256}"`;
      c.header('ETag', etag);
      c.header('Accept-Ranges', 'bytes');
      // Private to the company's users, and to be checked again (the ETag) before reuse.
      c.header('Cache-Control', 'private, no-cache');
      if (matchesETag(c.req.header('if-none-match'), etag)) return c.body(null, 304);
      // If-Range: the part only of the file the client already has part of.
      const ifRange = c.req.header('if-range');
      const answer = ifRange && ifRange !== etag ? { kind: 'whole' as const } : rangeOf(c.req.header('range'), file.size);
      if (answer.kind === 'unsatisfiable') {
        c.header('Content-Range', `bytes */${file.size}`);
        throw new SiloError('range_not_satisfiable', `the file has ${file.size} bytes; Range asks for none of them`, { size: file.size });
      }
      const range = answer.kind === 'part' ? answer.range : undefined;
      const bytes = await openFile(storage(), company, file, range);
      const headers: Record<string, string> = {
        'Content-Type': file.contentType,
        'Content-Disposition': disposition(file.name),
        'Content-Length': String(range ? range.end - range.start + 1 : file.size),
      };
      if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${file.size}`;
      // HEAD (Hono runs this handler and drops the body): opened as for a GET, so that bytes gone
      // answer 404 alike, then let go; a stream nobody reads would hold its file open until garbage
      // collection.
      if (c.req.method === 'HEAD') {
        if (bytes instanceof Readable) bytes.destroy();
        return c.body(null, range ? 206 : 200, headers);
      }
      // Bytes in memory go out in one write (@hono/node-server's path for a Uint8Array body).
      const body = bytes instanceof Readable ? (Readable.toWeb(bytes) as ReadableStream) : bytes;
      return c.body(body, range ? 206 : 200, headers);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'delete',
      path: '/api/documents/{id}/files/{fileId}',
      operationId: 'deleteDocumentFile',
      summary: 'Remove a file',
      request: { params: FileParams },
      responses: { 204: { description: 'Removed' } },
    }),
    async (c) => {
      const { company, db } = c.get('tenant');
      const { id, fileId } = c.req.valid('param');
      await deleteFile(db, storage(), company, id, fileId);
      return c.body(null, 204);
    },
  );
}
