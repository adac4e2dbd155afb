// The empty twin of a company's database on the server it moves to: the same role and database
// names, a new random password, the same (latest) tenant schema; cloned from that server's template
// when the template is current, else created empty and migrated. The steps are provisioning's
// (docs/provisioning.md) without the company row and its first admin.
import { eq } from 'drizzle-orm';
import type { MoveStep, SiloContext } from '../context.ts';
import { databaseServers } from '../control-plane/schema.ts';
import { scramSha256Verifier } from '../crypto/scram.ts';
import { describeError, pgCode } from '../errors.ts';
import { applyMigrations } from '../migrations/runner.ts';
import { letAdminActAs } from '../provisioning/admin-role.ts';
import { quoteIdent, quoteLiteral, templateNames, type TenantNames } from '../provisioning/names.ts';
import { ensureTemplate } from '../provisioning/template.ts';

const OBJECT_IN_USE = '55006';

export type StepRunner = <T>(step: MoveStep, run: () => Promise<T>) => Promise<T>;

export interface TargetDatabase {
  via: 'template' | 'migrations';
  /** The tenant schema version the new database is on. */
  version: string | null;
}

/** The server's template version, brought to the latest when it is behind; null when it cannot be. */
async function currentTemplate(ctx: SiloContext, serverId: string): Promise<string | null> {
  const [server] = await ctx.db
    .select({ version: databaseServers.templateVersion })
    .from(databaseServers)
    .where(eq(databaseServers.id, serverId));
  if (server?.version === ctx.tenantMigrations.latest) return server.version;
  return ensureTemplate(ctx, serverId).catch((error: unknown) => {
    ctx.log.warn({ serverId, error: describeError(error) }, 'template not current; the moved database is migrated instead');
    return null;
  });
}

export async function createTargetDatabase(
  ctx: SiloContext,
  serverId: string,
  names: TenantNames,
  password: string,
  step: StepRunner,
): Promise<TargetDatabase> {
  const admin = await ctx.servers.admin(serverId);
  await step('role', async () => {
    await admin.unsafe(`create role ${quoteIdent(names.role)} login password ${quoteLiteral(scramSha256Verifier(password))}`);
    await letAdminActAs(admin, names.role);
  });

  const template = templateNames(ctx.config.dbPrefix);
  const cloned = await step('database', async () => {
    if ((await currentTemplate(ctx, serverId)) === ctx.tenantMigrations.latest) {
      try {
        await admin.unsafe(
          `create database ${quoteIdent(names.database)} owner ${quoteIdent(names.role)} ` +
            `template ${quoteIdent(template.database)} strategy ${ctx.config.templateStrategy}`,
        );
        return true;
      } catch (error) {
        if (pgCode(error) !== OBJECT_IN_USE) throw error;
        ctx.log.warn({ serverId }, 'template busy; the moved database is migrated instead');
      }
    }
    await admin.unsafe(`create database ${quoteIdent(names.database)} owner ${quoteIdent(names.role)}`);
    return false;
  });

  await step('revoke', () => admin.unsafe(`revoke all on database ${quoteIdent(names.database)} from public`));

  // A clone's objects belong to the template's owner: the admin hands them over. An empty database
  // is migrated as the company's role, so that what the migrations create belongs to it.
  const client = cloned
    ? await ctx.servers.open(serverId, names.database)
    : await ctx.servers.open(serverId, names.database, { user: names.role, password });
  try {
    if (cloned) {
      await step('ownership', () =>
        client.unsafe(
          `reassign owned by ${quoteIdent(template.owner)} to ${quoteIdent(names.role)}; ` +
            `revoke all on schema public from ${quoteIdent(template.owner)}`,
        ),
      );
      return { via: 'template', version: ctx.tenantMigrations.latest };
    }
    const migrated = await step('migrate', () => applyMigrations(client, ctx.tenantMigrations));
    return { via: 'migrations', version: migrated.version };
  } finally {
    await client.end({ timeout: 5 });
  }
}
