// A company's database on Neon: a Neon project of its own (Neon's advice for database-per-tenant),
// created through the API with the database and role named after the company. The saga migrates
// it: a new project has no template to clone from.
//
// Past its plan's project limit Neon refuses new projects (422 PROJECTS_LIMIT_EXCEEDED); every
// project in the organisation counts, Silo's or not. The server is then full: its capacity drops
// to the companies it holds, so placement stops choosing it until an operator raises it again.
import { eq, sql } from 'drizzle-orm';
import type { SiloContext } from '../../context.ts';
import { companies } from '../../control-plane/schema.ts';
import { conflict } from '../../base/errors.ts';
import { NeonApiError, type NeonProject } from '../../providers/neon/api.ts';
import { neonConnectTimeoutSeconds } from '../../providers/neon/driver.ts';
import { neonProjectName, neonServer } from '../../providers/neon/servers.ts';
import { openPostgresJs } from '../../data-plane/company-database.ts';
import { withVerifiedTls } from '../../base/db/tls.ts';
import type { DatabaseBuilder } from './database-builder.ts';
import type { StepRunner } from '../../control-plane/audit.ts';
import type { ProvisionStep } from '../../context.ts';
import { tenantNames } from '../../base/names.ts';
import { sealedAt } from '../../base/crypto/credentials.ts';

export function neonDatabaseBuilder(ctx: SiloContext, companyId: string, slug: string, serverId: string): DatabaseBuilder {
  const names = tenantNames(ctx.config.dbPrefix, { id: companyId });
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
        api
          .createProject(projectName, names, settings, async (id) => {
            projectId = id;
            // Recorded at once: if this process dies while Neon finishes, reconcile can delete it.
            await ctx.db.update(companies).set({ providerRef: id }).where(eq(companies.id, companyId));
          })
          .catch(async (error: unknown) => {
            throw isProjectLimit(error) ? await markFull(ctx, serverId) : error;
          }),
      );
      // The project's role owns its database, so the migrations' objects belong to it.
      return {
        // A new project's compute is up, but give it the time a start takes all the same.
        client: openPostgresJs(withVerifiedTls(project.connectionUri), { connect_timeout: neonConnectTimeoutSeconds() }),
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

function isProjectLimit(error: unknown): boolean {
  return error instanceof NeonApiError && error.status === 422 && error.code === 'PROJECTS_LIMIT_EXCEEDED';
}

/** Lowers the server's capacity to what it holds now, and says so. */
async function markFull(ctx: SiloContext, serverId: string): Promise<Error> {
  const [row] = await ctx.db.execute<{ name: string; capacity: number }>(sql`
    update database_servers s
    set capacity = least(s.capacity, (select count(*) from companies c
                                      where (c.server_id = s.id or c.moving_to = s.id) and c.status <> 'deleted')::int),
        updated_at = now()
    where s.id = ${serverId}
    returning s.name, s.capacity`);
  ctx.log.warn({ serverId, capacity: row?.capacity }, 'neon server full: the plan project limit was reached; capacity lowered');
  return conflict(
    `the neon server "${row?.name}" is full: Neon refused a new project (its plan's project limit was reached); ` +
      `its capacity is now ${row?.capacity}, so no new company is placed there until the limit or the capacity is raised`,
  );
}
