// POST /api/companies/import: a new company holding an uploaded backup archive's data (another
// Silo's export, or this one's). The body is the archive's bytes, streamed to the backup storage;
// SILO_IMPORT_MAX_BYTES bounds it instead of the body limit.
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { invalid } from '../../../base/errors.ts';
import { importCompany } from '../../../operations/backups/import.ts';
import { toCompanyView } from '../../../control-plane/company-records.ts';
import { actorOf, type App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import { bearer, CompanySchema, errors, json, text } from '../../schemas.ts';

export const IMPORT_PATH = '/api/companies/import';

export function registerImportCompany(app: App, ctx: SiloContext) {
  app.openapi(
    createRoute({
      method: 'post',
      path: IMPORT_PATH,
      operationId: 'importCompany',
      tags: ['backups'],
      summary: 'Create a company from a backup archive (the file that export writes)',
      description:
        'The archive is stored and read through before anything is created: a damaged or truncated one answers 400. ' +
        'The company gets a new role and credentials; its users keep their passwords. An archive from a newer Silo answers 409.',
      security: bearer,
      middleware: [requireAuth(ctx, ['system_admin'])],
      request: {
        query: z.object({
          slug: z.string().max(64).openapi({ example: 'acme-copy', description: 'The new company’s slug' }),
          name: text(200).optional(),
          serverId: z.uuid().optional().openapi({ description: 'The postgres server to place it on (default: placement)' }),
        }),
        body: {
          required: true,
          content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
        },
      },
      responses: {
        201: json(CompanySchema, 'The company, active, holding the archive’s data'),
        409: errors[409],
        413: errors[413],
      },
    }),
    async (c) => {
      const { slug, name, serverId } = c.req.valid('query');
      const body = c.req.raw.body;
      if (!body) throw invalid('the body must be a backup archive', [{ path: 'body', message: 'is empty' }]);
      const upload = Readable.fromWeb(body as WebReadableStream<Uint8Array>);
      const company = await importCompany(
        ctx,
        { slug, ...(name ? { name } : {}), ...(serverId ? { serverId } : {}) },
        upload,
        actorOf(c.get('auth')),
      );
      return c.json(toCompanyView(company), 201);
    },
  );
}
