// The company page's actions: migrate now, suspend, reactivate, archive, unarchive, move, delete.
// Each calls the operation the API's route calls; on success the browser is sent back to the page
// with a notice (so a reload repeats nothing), on failure the page shows why.
import type { Context } from 'hono';
import { z } from 'zod';
import { conflict } from '../../../base/errors.ts';
import type { SiloContext } from '../../../context.ts';
import { getCompany } from '../../../control-plane/company-records.ts';
import { deleteCompany, updateCompany } from '../../../operations/companies.ts';
import { migrateCompanyOnRequest } from '../../../operations/migrations/company-migrations.ts';
import { moveCompany } from '../../../operations/scale-out/move-company.ts';
import { consoleActor, type ConsoleEnv, type Web } from '../env.ts';
import { explain } from '../errors.tsx';
import { filled, parseOrRefuse } from '../forms.ts';
import type { NoticeKey } from '../notices.ts';
import { companyPage } from './company.tsx';

/** Runs the action; answers a redirect to `then` (with its notice), or the page with the error. */
export async function act(c: Context<ConsoleEnv>, ctx: SiloContext, slug: string, run: () => Promise<NoticeKey | { to: string }>) {
  try {
    const done = await run();
    return c.redirect(typeof done === 'string' ? `/console/companies/${encodeURIComponent(slug)}?done=${done}` : done.to, 303);
  } catch (error) {
    const { status, message } = await explain(error, c, ctx.log);
    if (status === 404) throw error;
    return companyPage(c, ctx, slug, { error: message, status });
  }
}

const StatusForm = z.object({ status: z.enum(['active', 'suspended', 'archived']) });
const MoveForm = z.object({ serverId: z.uuid() });

export function registerCompanyActions(web: Web, ctx: SiloContext) {
  web.post('/companies/:slug/status', async (c) => {
    const slug = c.req.param('slug');
    const form = filled(await c.req.parseBody());
    return act(c, ctx, slug, async () => {
      const { status } = parseOrRefuse(StatusForm, form);
      const before = await getCompany(ctx, slug);
      await updateCompany(ctx, slug, { status }, consoleActor(c.get('auth')));
      if (status === 'suspended') return 'suspended';
      if (status === 'archived') return 'archived';
      return before.status === 'archived' ? 'unarchived' : 'reactivated';
    });
  });

  web.post('/companies/:slug/migrate', async (c) => {
    const slug = c.req.param('slug');
    return act(c, ctx, slug, async () => {
      const result = await migrateCompanyOnRequest(ctx, await getCompany(ctx, slug), { actor: consoleActor(c.get('auth')) });
      if (result.status === 'failed') throw conflict(`${result.failedMigration} failed and was rolled back: ${result.error}`);
      return result.status;
    });
  });

  web.post('/companies/:slug/move', async (c) => {
    const slug = c.req.param('slug');
    const form = filled(await c.req.parseBody());
    return act(c, ctx, slug, async () => {
      await moveCompany(ctx, slug, parseOrRefuse(MoveForm, form).serverId, consoleActor(c.get('auth')));
      return 'moved';
    });
  });

  web.post('/companies/:slug/delete', async (c) => {
    const slug = c.req.param('slug');
    const form = filled(await c.req.parseBody());
    return act(c, ctx, slug, async () => {
      await deleteCompany(ctx, slug, form.confirm, consoleActor(c.get('auth')));
      return { to: '/console/companies?done=deleted' };
    });
  });
}
