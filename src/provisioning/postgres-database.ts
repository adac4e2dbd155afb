// A company's database on a postgres server Silo administers: a login role with a SCRAM verifier
// computed here (the password never reaches the server), a database cloned from the server's
// template (or created empty and migrated), CONNECT revoked from PUBLIC. docs/provisioning.md has
// the steps, the choices and the measured cost of each.
import type { Sql } from 'postgres';
import { generatePassword } from '../auth/passwords.ts';
import type { SiloContext } from '../context.ts';
import { scramSha256Verifier } from '../crypto/scram.ts';
import { describeError, pgCode } from '../errors.ts';
import { letAdminActAs } from './admin-role.ts';
import type { DatabaseBuilder, StepRunner } from './database-builder.ts';
import { quoteIdent, quoteLiteral, templateNames, tenantNames } from './names.ts';
import type { Placement } from './placement.ts';
import { ensureTemplate } from './template.ts';
import { dropTenantDatabase } from './tenant-database.ts';

const OBJECT_IN_USE = '55006';

export function postgresDatabaseBuilder(
  ctx: SiloContext,
  slug: string,
  placement: Placement,
  options: { via?: 'template' | 'migrations' },
): DatabaseBuilder {
  const names = tenantNames(ctx.config.dbPrefix, slug);
  const { serverId } = placement;
  const created = { role: false, database: false };
  let admin: Sql | undefined;

  /** Clones the template when it is current; null when it cannot be used (then: migrations). */
  async function cloneTemplate(server: Sql): Promise<string | null> {
    let templateVersion = placement.templateVersion;
    if (templateVersion !== ctx.tenantMigrations.latest) {
      templateVersion = await ensureTemplate(ctx, serverId).catch((error: unknown) => {
        // A template that cannot be brought up to date is not cloned: migrations run instead.
        ctx.log.warn({ serverId, error: describeError(error) }, 'template not current; creating an empty database and migrating it');
        return null;
      });
    }
    // Never clone a template that is behind.
    if (templateVersion === null || templateVersion !== ctx.tenantMigrations.latest) return null;
    try {
      await server.unsafe(
        `create database ${quoteIdent(names.database)} owner ${quoteIdent(names.role)} ` +
          `template ${quoteIdent(templateNames(ctx.config.dbPrefix).database)} strategy ${ctx.config.templateStrategy}`,
      );
      return templateVersion;
    } catch (error) {
      // Someone is connected to the template (a migration of it running elsewhere): fall back.
      if (pgCode(error) !== OBJECT_IN_USE) throw error;
      ctx.log.warn({ serverId }, 'template busy; creating an empty database and migrating it');
      return null;
    }
  }

  return {
    created: () => ({ ...created }),
    async undo() {
      if (admin) await dropTenantDatabase(admin, names, created);
    },
    async build(step: StepRunner) {
      admin = await ctx.servers.admin(serverId);
      const server = admin;
      const rolePassword = generatePassword(24);
      await step('role', async () => {
        await server.unsafe(`create role ${quoteIdent(names.role)} login password ${quoteLiteral(scramSha256Verifier(rolePassword))}`);
        created.role = true;
        await letAdminActAs(server, names.role);
      });

      let schemaVersion: string | null = null;
      await step('database', async () => {
        if ((options.via ?? 'template') === 'template') schemaVersion = await cloneTemplate(server);
        if (schemaVersion === null) await server.unsafe(`create database ${quoteIdent(names.database)} owner ${quoteIdent(names.role)}`);
        created.database = true;
      });
      const cloned = schemaVersion !== null;

      await step('revoke', () => server.unsafe(`revoke all on database ${quoteIdent(names.database)} from public`));

      // A clone needs the admin: its objects belong to the template's owner role, and only the
      // admin can hand them over. A database built by migrations is reached as the company's own
      // role, so that everything the migrations create belongs to it.
      const client = cloned
        ? await ctx.servers.open(serverId, names.database)
        : await ctx.servers.open(serverId, names.database, { user: names.role, password: rolePassword });
      if (cloned) {
        try {
          await step('ownership', async () => {
            const owner = quoteIdent(templateNames(ctx.config.dbPrefix).owner);
            await client.unsafe(`reassign owned by ${owner} to ${quoteIdent(names.role)}; revoke all on schema public from ${owner}`);
          });
        } catch (error) {
          await client.end({ timeout: 1 }).catch(() => {});
          throw error;
        }
      }
      return {
        client,
        schemaVersion,
        via: cloned ? 'template' : 'migrations',
        location: {
          databaseName: names.database,
          roleName: names.role,
          credentialsEncrypted: ctx.box.seal(rolePassword),
          databaseUrlEncrypted: null,
          providerRef: null,
        },
      };
    },
  };
}
