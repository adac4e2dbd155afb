// A company's backups from its page: take one, download an archive, restore from one (after the
// confirmation in company-backups-section.tsx). The operations are src/operations/backups/, as for
// the API's routes.
import { Readable } from 'node:stream';
import { z } from 'zod';
import { describeError } from '../../../base/errors.ts';
import type { SiloContext } from '../../../context.ts';
import { openBackupArchive, startBackup } from '../../../operations/backups/backups.ts';
import { prepareRestore, runRestore } from '../../../operations/backups/restore-in-place.ts';
import { consoleActor, type Web } from '../env.ts';
import { filled, parseOrRefuse } from '../forms.ts';
import { act } from './company-actions.ts';

const RestoreForm = z.object({ backupId: z.uuid() });

export function registerBackupPages(web: Web, ctx: SiloContext) {
  web.post('/companies/:slug/backups', async (c) => {
    const slug = c.req.param('slug');
    return act(c, ctx, slug, async () => {
      await startBackup(ctx, slug, consoleActor(c.get('auth')));
      return 'backup-started';
    });
  });

  web.get('/companies/:slug/backups/:id/archive', async (c) => {
    const { backup, archive } = await openBackupArchive(ctx, c.req.param('slug'), c.req.param('id'));
    return c.body(Readable.toWeb(archive) as ReadableStream, 200, {
      'Content-Type': 'application/octet-stream',
      'Content-Disposition': `attachment; filename="${backup.id}.silo"`,
      ...(backup.sizeBytes !== null ? { 'Content-Length': String(backup.sizeBytes) } : {}),
    });
  });

  web.post('/companies/:slug/restore', async (c) => {
    const slug = c.req.param('slug');
    const form = filled(await c.req.parseBody());
    return act(c, ctx, slug, async () => {
      const actor = consoleActor(c.get('auth'));
      // As the API does: what the operator can act on is checked now, the rest runs in the background.
      const prepared = await prepareRestore(ctx, slug, parseOrRefuse(RestoreForm, form).backupId);
      runRestore(ctx, prepared, actor).catch((error: unknown) =>
        ctx.log.warn({ company: slug, backupId: prepared.backup.id, error: describeError(error) }, 'restore failed'),
      );
      return 'restore-started';
    });
  });
}
