// A company's database on Neon: a Neon project of its own (Neon's advice for database-per-tenant),
// created through the API with the database and role named after the company. The saga migrates
// it: a new project has no template to clone from.
import { eq } from 'drizzle-orm';
import type { SiloContext } from '../../context.ts';
import { companies } from '../../control-plane/schema.ts';
import type { NeonProject } from '../../providers/neon/api.ts';
import { neonProjectName, neonServer } from '../../providers/neon/servers.ts';
import { openPostgresJs } from '../../data-plane/company-database.ts';
import { withVerifiedTls } from '../../base/db/tls.ts';
import type { DatabaseBuilder } from './database-builder.ts';
import type { StepRunner } from '../../control-plane/audit.ts';
import type { ProvisionStep } from '../../context.ts';
import { tenantNames } from '../../base/names.ts';
import { sealedAt } from '../../base/crypto/credentials.ts';

export function neonDatabaseBuilder(ctx: SiloContext, companyId: string, slug: string, serverId: string): DatabaseBuilder {
  const names = tenantNames(ctx.config.dbPrefix, slug);
  const projectName = neonProjectName(ctx, slug);
  let attempted = false;
  let projectId: string | undefined;

  return {
    created: () => ({ project: projectId !== undefined }),
    async undo() {
      if (!attempted) return;
      const { api, settings } = await neonServer(ctx, serverId);
      // A create whose answer was lost may still have made the project: find it by its name.
      if (projectId) await api.deleteProject(projectId);
      else await api.deleteProjectsNamed(projectName, settings.orgId);
    },
    async build(step: StepRunner<ProvisionStep>) {
      const { api, settings } = await neonServer(ctx, serverId);
      attempted = true;
      const project: NeonProject = await step('project', () =>
        api.createProject(projectName, names, settings, async (id) => {
          projectId = id;
          // Recorded at once: if this process dies while Neon finishes, reconcile can delete it.
          await ctx.db.update(companies).set({ providerRef: id }).where(eq(companies.id, companyId));
        }),
      );
      // The project's role owns its database, so the migrations' objects belong to it.
      return {
        client: openPostgresJs(withVerifiedTls(project.connectionUri)),
        schemaVersion: null,
        via: 'neon',
        location: {
          databaseName: project.databaseName,
          roleName: project.roleName,
          credentialsEncrypted: null,
          databaseUrlEncrypted: ctx.box.seal(project.connectionUri, sealedAt.companyDatabaseUrl(companyId)),
          providerRef: project.projectId,
        },
      };
    },
  };
}
