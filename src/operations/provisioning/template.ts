// The pre-migrated template database on each server. New tenant databases are cloned from it, so
// that creating one does not replay every migration. Its objects belong to a dedicated NOLOGIN
// role, never to the admin, so that a clone can hand them to the tenant's role with REASSIGN OWNED.
// The template database itself belongs to the admin: REASSIGN OWNED would otherwise give the
// template away with the objects.
import { eq, sql as dsql } from 'drizzle-orm';
import type { SiloContext } from '../../context.ts';
import { databaseServers } from '../../control-plane/schema.ts';
import { pgCode } from '../../base/errors.ts';
import { applyMigrations } from '../../base/db/migration-runner.ts';
import { letAdminActAs } from './admin-role.ts';
import { quoteIdent, templateNames } from '../../base/names.ts';

const DUPLICATE_OBJECT = '42710';
const DUPLICATE_DATABASE = '42P04';

async function ignoreDuplicate(run: () => Promise<unknown>, code: string): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (pgCode(error) !== code) throw error;
  }
}

/**
 * Creates the template on a server if needed and migrates it to the latest tenant version.
 * Returns the version it is on. Safe to run from several processes at once.
 */
export async function ensureTemplate(ctx: SiloContext, serverId: string): Promise<string | null> {
  const admin = await ctx.servers.admin(serverId);
  const names = templateNames(ctx.config.dbPrefix);

  const [role] = await admin`select 1 from pg_roles where rolname = ${names.owner}`;
  if (!role) await ignoreDuplicate(() => admin.unsafe(`create role ${quoteIdent(names.owner)} nologin`), DUPLICATE_OBJECT);
  await letAdminActAs(admin, names.owner);

  const [database] = await admin`select 1 from pg_database where datname = ${names.database}`;
  if (!database) {
    await ignoreDuplicate(() => admin.unsafe(`create database ${quoteIdent(names.database)}`), DUPLICATE_DATABASE);
    await admin.unsafe(`revoke all on database ${quoteIdent(names.database)} from public`);
    await admin.unsafe(`grant create on database ${quoteIdent(names.database)} to ${quoteIdent(names.owner)}`);
  }

  const asAdmin = await ctx.servers.open(serverId, names.database);
  try {
    await asAdmin.unsafe(`grant create on schema public to ${quoteIdent(names.owner)}`);
  } finally {
    await asAdmin.end({ timeout: 5 });
  }

  // Migrate as the owner role (SET ROLE at connection start), so every object is created by it.
  const asOwner = await ctx.servers.open(serverId, names.database, undefined, {
    connection: { application_name: 'silo-template', role: names.owner },
  });
  let version: string | null;
  try {
    version = (await applyMigrations(asOwner, ctx.tenantMigrations)).version;
  } finally {
    // Nobody may stay connected to a template: CREATE DATABASE ... TEMPLATE would refuse.
    await asOwner.end({ timeout: 5 });
  }
  await ctx.db.update(databaseServers).set({ templateVersion: version, updatedAt: dsql`now()` }).where(eq(databaseServers.id, serverId));
  ctx.log.info({ serverId, version }, 'template database is current');
  return version;
}
