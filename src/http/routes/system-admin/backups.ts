// A company's backups (docs/backups.md): take one, list, read, delete, download its archive, and
// restore the company from one in place.
import { Readable } from 'node:stream';
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { describeError } from '../../../base/errors.ts';
import { deleteBackup, getBackup, listBackups, openBackupArchive, startBackup, toBackupView } from '../../../operations/backups/backups.ts';
import { prepareRestore, runRestore } from '../../../operations/backups/restore-in-place.ts';
import { actorOf, type App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import { bearer, CompanyParam, errors, json, jsonBody, PageQuery, pageOf } from '../../schemas.ts';

export const BackupSchema = z
  .object({
    id: z.string().uuid(),
    companyId: z.string().uuid(),
    status: z.enum(['running', 'completed', 'failed']),
    origin: z.string().openapi({ description: 'manual, scheduled, archive or import' }),
    startedAt: z.string(),
    completedAt: z.string().optional(),
    sizeBytes: z.number().int().optional().openapi({ description: 'The archive, compressed' }),
    schemaVersion: z.string().nullable().openapi({ description: 'The tenant schema version of the data (null while running)' }),
    tables: z.record(z.string(), z.number()).optional().openapi({ description: 'Rows per table' }),
    error: z.string().optional().openapi({ description: 'Why it failed' }),
  })
  .openapi('Backup');

const BackupParams = CompanyParam.extend({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, example: '0f8fad5b-d9cb-469f-a165-70867728950e' }),
});

const RestoreBody = z.object({ backupId: z.uuid() }).openapi('RestoreCompanyRequest');

export function registerBackupRoutes(app: App, ctx: SiloContext) {
  const adminOnly = requireAuth(ctx, ['system_admin']);
  const common = { tags: ['backups'], security: bearer, middleware: [adminOnly] };

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/api/companies/{company}/backups',
      operationId: 'createBackup',
      summary: "Take a backup of the company's data from one consistent snapshot",
      description: 'Answers at once; the backup runs in the background (GET it to see it complete). Neon companies answer 409.',
      request: { params: CompanyParam },
      responses: { 202: json(BackupSchema, 'The backup, running'), 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const { backup } = await startBackup(ctx, c.req.valid('param').company, actorOf(c.get('auth')));
      return c.json(toBackupView(backup), 202);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/companies/{company}/backups',
      operationId: 'listBackups',
      summary: "The company's backups, newest first",
      request: { params: CompanyParam, query: PageQuery },
      responses: { 200: json(pageOf(BackupSchema), 'A page'), 404: errors[404] },
    }),
    async (c) => c.json(await listBackups(ctx, c.req.valid('param').company, c.req.valid('query')), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/companies/{company}/backups/{id}',
      operationId: 'getBackup',
      summary: 'One backup',
      request: { params: BackupParams },
      responses: { 200: json(BackupSchema, 'The backup'), 404: errors[404] },
    }),
    async (c) => {
      const { company, id } = c.req.valid('param');
      return c.json(toBackupView((await getBackup(ctx, company, id)).backup), 200);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'delete',
      path: '/api/companies/{company}/backups/{id}',
      operationId: 'deleteBackup',
      summary: 'Remove a backup and its archive',
      request: { params: BackupParams },
      responses: { 204: { description: 'Removed' }, 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const { company, id } = c.req.valid('param');
      await deleteBackup(ctx, company, id, actorOf(c.get('auth')));
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/companies/{company}/backups/{id}/archive',
      operationId: 'downloadBackupArchive',
      summary: 'The backup as one file, the format that `silo companies export` writes',
      request: { params: BackupParams },
      responses: {
        200: {
          description: 'The archive (gzip; its layout is in docs/backups.md)',
          content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
        },
        404: errors[404],
        409: errors[409],
      },
    }),
    async (c) => {
      const { company, id } = c.req.valid('param');
      const { backup, archive } = await openBackupArchive(ctx, company, id);
      return c.body(Readable.toWeb(archive) as ReadableStream, 200, {
        'Content-Type': 'application/octet-stream',
        'Content-Disposition': `attachment; filename="${backup.id}.silo"`,
        ...(backup.sizeBytes !== null ? { 'Content-Length': String(backup.sizeBytes) } : {}),
      });
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/api/companies/{company}/restore',
      operationId: 'restoreCompany',
      summary: 'Replace the company’s data with a backup’s',
      description:
        'Answers once the archive is verified and the restore has started; GET /api/companies/{company}/logs shows its steps. ' +
        'Requests answer 503 with Retry-After during the swap; no request ever sees a half-restored database. ' +
        'A damaged archive answers 400 with nothing changed; an archive from a newer Silo answers 409.',
      request: { params: CompanyParam, body: jsonBody(RestoreBody) },
      responses: {
        400: errors[400],
        202: json(z.object({ backupId: z.string(), status: z.literal('running') }).openapi('RestoreStarted'), 'Started'),
        404: errors[404],
        409: errors[409],
      },
    }),
    async (c) => {
      const { company } = c.req.valid('param');
      const { backupId } = c.req.valid('json');
      const actor = actorOf(c.get('auth'));
      // The checks a client can act on answer here (400, 404, 409); the rest runs in the background.
      const prepared = await prepareRestore(ctx, company, backupId);
      runRestore(ctx, prepared, actor).catch((error: unknown) =>
        ctx.log.warn({ company, backupId, error: describeError(error) }, 'restore failed'),
      );
      return c.json({ backupId: prepared.backup.id, status: 'running' as const }, 202);
    },
  );
}
