// The warm pool: databases cloned ahead of time from a server's template, so that a sign-up only
// has to claim one (warm-claim.ts) instead of waiting for CREATE DATABASE. Each warm database is
// owned, with every object in it, by a NOLOGIN role of the same name, has CONNECT revoked from
// PUBLIC, and is named in the template's double-underscore namespace, which no company's name can
// take. Refilling runs under a per-server advisory lock, so one instance at a time fills a server.
// docs/provisioning.md, "The warm pool", has the design and the measured costs.
import { randomBytes } from 'node:crypto';
import { and, asc, eq, ne, or, isNull, sql as dsql } from 'drizzle-orm';
import type { Sql } from 'postgres';
import type { SiloContext } from '../../context.ts';
import { databaseServers, warmDatabases } from '../../control-plane/schema.ts';
import { describeError } from '../../base/errors.ts';
import { ifUnlocked, LOCK_CLASS } from '../../base/db/advisory-lock.ts';
import { applyMigrations, readMigrationState } from '../../base/db/migration-runner.ts';
import { quoteIdent, templateNames } from '../../base/names.ts';
import { letAdminActAs } from './admin-role.ts';
import { ensureTemplate } from './template.ts';
import { dropTenantDatabase } from './tenant-database.ts';

/** A new warm database's (and its owner role's) name: `<prefix>__template_warm_<12 hex>`. */
export function newWarmName(prefix: string): string {
  return `${warmNamePrefix(prefix)}${randomBytes(6).toString('hex')}`;
}

/** What every warm name of this installation starts with. */
export function warmNamePrefix(prefix: string): string {
  return `${templateNames(prefix).database}_warm_`;
}

/** Drops a warm database and its role, whatever of them exists. */
export function dropWarm(admin: Sql, name: string): Promise<void> {
  return dropTenantDatabase(admin, { database: name, role: name });
}

/**
 * Waits until no session is connected to `database` (a closed client's backend exits a moment
 * after its socket closes): a claim's RENAME would otherwise wait for it, up to 5 s.
 */
async function untilUnused(admin: Sql, database: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [row] = await admin<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where datname = ${database}`;
    if (row!.n === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Clones one warm database from the (current) template. The row comes first, so that a crash
 * leaves a name reconcile knows; on failure what was made is dropped and the row deleted.
 */
export async function cloneWarmDatabase(ctx: SiloContext, serverId: string): Promise<void> {
  const admin = await ctx.servers.admin(serverId);
  const template = templateNames(ctx.config.dbPrefix);
  const name = newWarmName(ctx.config.dbPrefix);
  const [row] = await ctx.db.insert(warmDatabases).values({ serverId, name }).returning({ id: warmDatabases.id });
  try {
    await admin.unsafe(`create role ${quoteIdent(name)} nologin`);
    await letAdminActAs(admin, name);
    await admin.unsafe(
      `create database ${quoteIdent(name)} owner ${quoteIdent(name)} template ${quoteIdent(template.database)} strategy ${ctx.config.templateStrategy}`,
    );
    await admin.unsafe(`revoke all on database ${quoteIdent(name)} from public`);
    // Everything in it passes to its own role now, so that a claim only renames (no connection).
    const client = await ctx.servers.open(serverId, name);
    let version: string | null;
    try {
      await client.unsafe(
        `reassign owned by ${quoteIdent(template.owner)} to ${quoteIdent(name)}; revoke all on schema public from ${quoteIdent(template.owner)}`,
      );
      // The version the copy really has, read from it: the template may have moved meanwhile.
      version = (await readMigrationState(client, ctx.tenantMigrations)).version;
    } finally {
      await client.end({ timeout: 5 });
    }
    await untilUnused(admin, name);
    await ctx.db.update(warmDatabases).set({ status: 'ready', templateVersion: version }).where(eq(warmDatabases.id, row!.id));
  } catch (error) {
    await dropWarm(admin, name).catch(() => {});
    await ctx.db
      .delete(warmDatabases)
      .where(eq(warmDatabases.id, row!.id))
      .catch(() => {});
    throw error;
  }
}

/**
 * Brings a ready warm database behind the latest version up to it, in place: connected as the
 * admin acting as its owner role (so that what the migrations create is that role's), the same
 * runner as every company's. Measured against dropping and cloning again (docs/provisioning.md):
 * a DROP DATABASE alone costs more than a migration of the few statements a release brings.
 */
async function migrateWarm(ctx: SiloContext, serverId: string, admin: Sql, name: string): Promise<string | null> {
  const client = await ctx.servers.open(serverId, name, undefined, { connection: { application_name: 'silo-warm', role: name } });
  let version: string | null;
  try {
    version = (await applyMigrations(client, ctx.tenantMigrations)).version;
  } finally {
    await client.end({ timeout: 5 });
  }
  await untilUnused(admin, name);
  return version;
}

/**
 * Puts right the warm databases that must not be claimed as they are: those left `cloning` by a
 * refill that died (this runs under the refill lock, so no refill is under way) are dropped, those
 * behind the latest version migrated (or dropped, should that fail). No claim takes any of them
 * meanwhile: a claim takes only ready rows at the latest version. Returns how many were
 * dropped and how many migrated.
 */
async function retireUnusable(ctx: SiloContext, serverId: string, admin: Sql): Promise<{ removed: number; migrated: number }> {
  const latest = ctx.tenantMigrations.latest;
  const unusable = await ctx.db
    .select({ id: warmDatabases.id, name: warmDatabases.name, status: warmDatabases.status })
    .from(warmDatabases)
    .where(
      and(
        eq(warmDatabases.serverId, serverId),
        or(
          eq(warmDatabases.status, 'cloning'),
          isNull(warmDatabases.templateVersion),
          latest === null ? dsql`false` : ne(warmDatabases.templateVersion, latest),
        ),
      ),
    );
  const result = { removed: 0, migrated: 0 };
  for (const warm of unusable) {
    if (warm.status === 'ready') {
      try {
        const version = await migrateWarm(ctx, serverId, admin, warm.name);
        await ctx.db.update(warmDatabases).set({ templateVersion: version }).where(eq(warmDatabases.id, warm.id));
        if (version === latest) {
          result.migrated++;
          continue;
        }
      } catch (error) {
        ctx.log.warn({ serverId, error: describeError(error) }, 'could not migrate a warm database; dropping it');
      }
    }
    await dropWarm(admin, warm.name);
    await ctx.db.delete(warmDatabases).where(eq(warmDatabases.id, warm.id));
    result.removed++;
  }
  return result;
}

export interface RefillResult {
  serverId: string;
  /** False when another instance (or call) was refilling this server. */
  ran: boolean;
  cloned: number;
  /** Behind the latest version, brought up to it in place. */
  migrated: number;
  /** Dropped: left half-made by a refill that died, or could not be migrated. */
  removed: number;
  error?: string;
}

/**
 * Brings one postgres server's warm pool to `ctx.config.warmPool` ready databases at the latest
 * version: the template first, then the unusable ones out, then clones one at a time (a refill
 * never takes more than one of the server's connections for CREATE DATABASE). `shouldStop` is
 * asked between clones (shutdown).
 */
export async function refillServer(ctx: SiloContext, serverId: string, shouldStop: () => boolean = () => false): Promise<RefillResult> {
  const result: RefillResult = { serverId, ran: false, cloned: 0, migrated: 0, removed: 0 };
  const outcome = await ifUnlocked(ctx.locks, LOCK_CLASS.warmRefill, serverId, async () => {
    result.ran = true;
    const [server] = await ctx.db
      .select({ version: databaseServers.templateVersion })
      .from(databaseServers)
      .where(eq(databaseServers.id, serverId));
    if (server?.version !== ctx.tenantMigrations.latest) await ensureTemplate(ctx, serverId);
    const admin = await ctx.servers.admin(serverId);
    Object.assign(result, await retireUnusable(ctx, serverId, admin));
    while (!shouldStop()) {
      const [count] = await ctx.db
        .select({ n: dsql<number>`count(*)::int` })
        .from(warmDatabases)
        .where(eq(warmDatabases.serverId, serverId));
      if (count!.n >= ctx.config.warmPool) break;
      await cloneWarmDatabase(ctx, serverId);
      result.cloned++;
    }
  }).catch((error: unknown) => {
    result.error = describeError(error);
    ctx.log.warn({ serverId, error: result.error }, 'could not refill the warm pool');
    return null;
  });
  if (outcome?.locked && result.cloned + result.migrated + result.removed > 0) {
    const { cloned, migrated, removed } = result;
    ctx.log.info({ serverId, cloned, migrated, removed }, 'warm pool refilled');
  }
  return result;
}

/**
 * Drops a server's warm databases, for a server being removed (its rows go with the server's
 * row). A server that cannot be reached keeps them: it is being given up.
 */
export async function emptyWarmPool(ctx: SiloContext, serverId: string): Promise<void> {
  const rows = await ctx.db.select({ name: warmDatabases.name }).from(warmDatabases).where(eq(warmDatabases.serverId, serverId));
  if (rows.length === 0) return;
  try {
    const admin = await ctx.servers.admin(serverId);
    for (const { name } of rows) await dropWarm(admin, name);
  } catch (error) {
    ctx.log.warn({ serverId, error: describeError(error) }, 'could not drop the warm databases of a server being removed');
  }
}

export interface WarmPoolFigures {
  serverId: string;
  /** Claimable: ready and at the latest tenant schema version. */
  ready: number;
  /** Being cloned (or left by a refill that died, until the next refill or reconcile). */
  cloning: number;
  /** Ready but behind the latest version: never claimed, migrated by the next refill. */
  stale: number;
  target: number;
}

/** The pool of every postgres server, for the status and metrics. */
export async function warmPoolFigures(ctx: SiloContext): Promise<WarmPoolFigures[]> {
  const latest = ctx.tenantMigrations.latest;
  const rows = await ctx.db
    .select({
      serverId: databaseServers.id,
      ready: dsql<number>`count(${warmDatabases.id}) filter (where ${warmDatabases.status} = 'ready' and ${warmDatabases.templateVersion} is not distinct from ${latest})::int`,
      cloning: dsql<number>`count(${warmDatabases.id}) filter (where ${warmDatabases.status} = 'cloning')::int`,
      stale: dsql<number>`count(${warmDatabases.id}) filter (where ${warmDatabases.status} = 'ready' and ${warmDatabases.templateVersion} is distinct from ${latest})::int`,
    })
    .from(databaseServers)
    .leftJoin(warmDatabases, eq(warmDatabases.serverId, databaseServers.id))
    .where(eq(databaseServers.provider, 'postgres'))
    .groupBy(databaseServers.id)
    .orderBy(asc(databaseServers.createdAt));
  return rows.map((r) => ({ ...r, target: ctx.config.warmPool }));
}
