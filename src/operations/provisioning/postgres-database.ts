// A company's database on a postgres server Silo administers: a login role with a SCRAM verifier
// computed here (the password never reaches the server), a database cloned from the server's
// template (or created empty and migrated), CONNECT revoked from PUBLIC. Used by provisioning and
// by a move's target (src/operations/scale-out/target-database.ts). docs/provisioning.md has the steps, the
// choices and the measured cost of each.
import { eq } from 'drizzle-orm';
import type { Sql } from 'postgres';
import { generatePassword } from '../../base/auth/passwords.ts';
import type { SiloContext } from '../../context.ts';
import { databaseServers } from '../../control-plane/schema.ts';
import { sealedAt } from '../../base/crypto/credentials.ts';
import { scramSha256Verifier, scramSha256VerifierAsync } from '../../base/crypto/scram.ts';
import { describeError, pgCode } from '../../base/errors.ts';
import { letAdminActAs } from './admin-role.ts';
import { connectionLimitClause } from './connection-limit.ts';
import type { DatabaseBuilder } from './database-builder.ts';
import type { StepRunner } from '../../control-plane/audit.ts';
import type { ProvisionStep } from '../../context.ts';
import { quoteIdent, quoteLiteral, templateNames, tenantNames, type TenantNames } from '../../base/names.ts';
import type { Placement } from './placement.ts';
import { ensureTemplate } from './template.ts';
import { claimWarmDatabase } from './warm-claim.ts';
import { dropTenantDatabase } from './tenant-database.ts';

const OBJECT_IN_USE = '55006';

export type DatabaseStep = 'role' | 'database' | 'revoke' | 'ownership';

export interface NewTenantDatabase {
  /**
   * One connection to it: as the admin for a clone (only the admin can hand the template owner's
   * objects over), as the company's role for an empty database (so that what migrations create
   * belongs to that role). The caller ends it.
   */
  client: Sql;
  /** The version it was cloned at; null for an empty database, which the caller migrates. */
  schemaVersion: string | null;
}

/** The server's template version, brought to the latest when it is behind; null when it cannot be. */
async function currentTemplate(ctx: SiloContext, serverId: string, known: string | null | undefined): Promise<string | null> {
  let version = known;
  if (version === undefined) {
    const [server] = await ctx.db
      .select({ version: databaseServers.templateVersion })
      .from(databaseServers)
      .where(eq(databaseServers.id, serverId));
    version = server?.version ?? null;
  }
  if (version === ctx.tenantMigrations.latest) return version;
  return ensureTemplate(ctx, serverId).catch((error: unknown) => {
    // A template that cannot be brought up to date is not cloned: migrations run instead.
    ctx.log.warn({ serverId, error: describeError(error) }, 'template not current; creating an empty database and migrating it');
    return null;
  });
}

/**
 * Creates the role and the database on a postgres server. `created` is filled in as it goes, so
 * that a caller whose step fails knows what to drop.
 */
export async function createTenantDatabase(
  ctx: SiloContext,
  serverId: string,
  names: TenantNames,
  password: string,
  step: StepRunner<DatabaseStep>,
  options: { useTemplate: boolean; templateVersion?: string | null; created?: { role: boolean; database: boolean } },
): Promise<NewTenantDatabase> {
  const created = options.created ?? { role: false, database: false };
  const admin = await ctx.servers.admin(serverId);
  await step('role', async () => {
    await admin.unsafe(
      `create role ${quoteIdent(names.role)} login ${connectionLimitClause(ctx.config.tenantConnectionLimit)} ` +
        `password ${quoteLiteral(scramSha256Verifier(password))}`,
    );
    created.role = true;
    await letAdminActAs(admin, names.role);
  });

  const template = templateNames(ctx.config.dbPrefix);
  const schemaVersion = await step('database', async () => {
    const version = options.useTemplate ? await currentTemplate(ctx, serverId, options.templateVersion) : null;
    // Never clone a template that is behind.
    if (version !== null && version === ctx.tenantMigrations.latest) {
      try {
        await admin.unsafe(
          `create database ${quoteIdent(names.database)} owner ${quoteIdent(names.role)} ` +
            `template ${quoteIdent(template.database)} strategy ${ctx.config.templateStrategy}`,
        );
        created.database = true;
        return version;
      } catch (error) {
        // Someone is connected to the template (a migration of it running elsewhere): fall back.
        if (pgCode(error) !== OBJECT_IN_USE) throw error;
        ctx.log.warn({ serverId }, 'template busy; creating an empty database and migrating it');
      }
    }
    await admin.unsafe(`create database ${quoteIdent(names.database)} owner ${quoteIdent(names.role)}`);
    created.database = true;
    return null;
  });

  await step('revoke', () => admin.unsafe(`revoke all on database ${quoteIdent(names.database)} from public`));

  const cloned = schemaVersion !== null;
  const client = cloned
    ? await ctx.servers.open(serverId, names.database)
    : await ctx.servers.open(serverId, names.database, { user: names.role, password });
  if (cloned) {
    try {
      await step('ownership', () =>
        client.unsafe(
          `reassign owned by ${quoteIdent(template.owner)} to ${quoteIdent(names.role)}; revoke all on schema public from ${quoteIdent(template.owner)}`,
        ),
      );
    } catch (error) {
      await client.end({ timeout: 1 }).catch(() => {});
      throw error;
    }
  }
  return { client, schemaVersion };
}

/**
 * The warm pool's way (warm-claim.ts): a claimed database needs no revoke and no ownership step.
 * Its connection for the rest of the saga is opened at once, so that it is ready by the time the
 * first admin's password hash is.
 */
async function claimWarm(
  ctx: SiloContext,
  serverId: string,
  names: TenantNames,
  verifier: Promise<string>,
  step: StepRunner<ProvisionStep>,
  created: { role: boolean; database: boolean },
): Promise<NewTenantDatabase | null> {
  const schemaVersion = await step('claim', () => claimWarmDatabase(ctx, serverId, names, verifier, created));
  if (schemaVersion === null) return null;
  // Without postgres.js's array-type query on connect: the saga only inserts the first admin (no
  // array column), and on a fresh backend that catalog query costs the server CPU the password
  // hash, running at the same time, needs.
  const client = await ctx.servers.open(serverId, names.database, undefined, { fetch_types: false });
  client`select 1`.catch(() => {});
  return { client, schemaVersion };
}

export function postgresDatabaseBuilder(
  ctx: SiloContext,
  companyId: string,
  placement: Placement,
  options: { via?: 'template' | 'migrations' },
): DatabaseBuilder {
  const names = tenantNames(ctx.config.dbPrefix, { id: companyId });
  const created = { role: false, database: false };
  let admin: Sql | undefined;
  const rolePassword = generatePassword(24);
  const useTemplate = (options.via ?? 'template') === 'template';
  // For a claim: computed off the event loop while the saga's first steps run.
  const verifier = useTemplate && ctx.config.warmPool > 0 ? scramSha256VerifierAsync(rolePassword) : undefined;
  verifier?.catch(() => {});

  return {
    created: () => ({ ...created }),
    async undo() {
      if (admin) await dropTenantDatabase(admin, names, created);
    },
    async build(step: StepRunner<ProvisionStep>) {
      admin = await ctx.servers.admin(placement.serverId);
      const warm = verifier ? await claimWarm(ctx, placement.serverId, names, verifier, step, created) : null;
      const { client, schemaVersion } =
        warm ??
        (await createTenantDatabase(ctx, placement.serverId, names, rolePassword, step, {
          useTemplate,
          templateVersion: placement.templateVersion,
          created,
        }));
      return {
        client,
        schemaVersion,
        via: warm ? 'warm' : schemaVersion !== null ? 'template' : 'migrations',
        location: {
          databaseName: names.database,
          roleName: names.role,
          credentialsEncrypted: ctx.box.seal(rolePassword, sealedAt.companyCredentials(companyId)),
          databaseUrlEncrypted: null,
          providerRef: null,
        },
      };
    },
  };
}
