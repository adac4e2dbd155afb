// The provisioning saga's step for a company's file storage (docs/files.md): its folder (or bucket)
// is made before the database, and removed by the saga's undo with the rest. Wraps the provider's
// database builder, so the saga itself only names it once.
import type { SiloContext } from '../../context.ts';
import { fileStorage } from '../../data-plane/files/index.ts';
import type { DatabaseBuilder } from './database-builder.ts';

export function withFileStorage(ctx: SiloContext, companyId: string, database: DatabaseBuilder): DatabaseBuilder {
  const storage = fileStorage(ctx.config);
  let made = false;
  return {
    created: () => ({ ...database.created(), files: made }),
    async undo() {
      // Both, whichever fails: the storage is not on the database's server.
      const results = await Promise.allSettled([database.undo(), made ? storage.removeCompany(companyId) : Promise.resolve()]);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
    async build(step) {
      await step('files', async () => {
        await storage.createCompany(companyId);
        made = true;
      });
      return database.build(step);
    },
  };
}
