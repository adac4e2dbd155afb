// Database servers that hold tenant databases: register, list, change. A server's URL holds its
// admin password, so it is stored encrypted and only `host` (host:port) is ever shown.
import { asc, eq, sql as dsql } from 'drizzle-orm';
import postgres from 'postgres';
import type { SiloContext } from '../context.ts';
import { databaseServers, type ServerStatus } from '../control-plane/schema.ts';
import { conflict, describeError, invalid, notFound, pgCode, unavailable } from '../errors.ts';
import { ensureTemplate } from '../provisioning/template.ts';

export type ServerRow = typeof databaseServers.$inferSelect;

export interface ServerView {
  id: string;
  name: string;
  provider: ServerRow['provider'];
  host: string;
  status: ServerStatus;
  capacity: number;
  companies: number;
  templateVersion: string | null;
  reachable?: boolean;
  createdAt: string;
}

export function hostOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '5432'}`;
}

async function companyCounts(ctx: SiloContext): Promise<Map<string, number>> {
  const rows = await ctx.db.execute<{ server_id: string; n: number }>(dsql`
    select server_id, count(*)::int as n from companies
    where status <> 'deleted' and server_id is not null group by server_id`);
  return new Map(rows.map((r) => [r.server_id, r.n]));
}

function toView(row: ServerRow, companies: number): ServerView {
  return {
    id: row.id,
    name: row.name,
    provider: row.provider,
    host: row.host,
    status: row.status,
    capacity: row.capacity,
    companies,
    templateVersion: row.templateVersion,
    createdAt: row.createdAt.toISOString(),
  };
}

async function isReachable(ctx: SiloContext, serverId: string): Promise<boolean> {
  try {
    const admin = await ctx.servers.admin(serverId);
    await Promise.race([
      admin`select 1`,
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 3000).unref()),
    ]);
    return true;
  } catch {
    return false;
  }
}

export async function listServers(ctx: SiloContext, options: { probe?: boolean } = {}): Promise<ServerView[]> {
  const [rows, counts] = await Promise.all([
    ctx.db.select().from(databaseServers).orderBy(asc(databaseServers.createdAt)),
    companyCounts(ctx),
  ]);
  const views = rows.map((row) => toView(row, counts.get(row.id) ?? 0));
  if (options.probe) {
    await Promise.all(views.map(async (v) => (v.reachable = await isReachable(ctx, v.id))));
  }
  return views;
}

export interface AddServerInput {
  name: string;
  url: string;
  capacity?: number;
  provider?: 'postgres';
}

/** Checks that the URL reaches a server where its login may create databases and roles. */
async function checkAdminLogin(url: string): Promise<void> {
  const probe = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {}, prepare: false });
  try {
    const [role] = await probe<{ rolsuper: boolean; rolcreatedb: boolean; rolcreaterole: boolean }[]>`
      select rolsuper, rolcreatedb, rolcreaterole from pg_roles where rolname = current_user`;
    if (!role || !(role.rolsuper || (role.rolcreatedb && role.rolcreaterole))) {
      throw invalid('the login in url may not create databases and roles (needs CREATEDB and CREATEROLE)', [
        { path: 'url', message: 'needs CREATEDB and CREATEROLE' },
      ]);
    }
  } catch (error) {
    if (pgCode(error) === '28P01' || pgCode(error) === '28000') {
      throw invalid('the server refused the login in url', [{ path: 'url', message: 'login refused' }]);
    }
    if (error instanceof Error && error.name === 'SiloError') throw error;
    // describeError never includes the URL: postgres.js errors name the host and port at most.
    throw unavailable(`the database server cannot be reached (${describeError(error).replace(/\S+@\S+/g, '')})`);
  } finally {
    await probe.end({ timeout: 2 });
  }
}

export async function addServer(ctx: SiloContext, input: AddServerInput): Promise<ServerView> {
  let host: string;
  try {
    host = hostOf(input.url);
  } catch {
    throw invalid('url is not a valid connection string', [{ path: 'url', message: 'not a URL' }]);
  }
  const [existing] = await ctx.db.select({ id: databaseServers.id }).from(databaseServers).where(eq(databaseServers.name, input.name));
  if (existing) throw conflict(`a server named "${input.name}" already exists`);
  await checkAdminLogin(input.url);
  let row: ServerRow;
  try {
    [row] = (await ctx.db
      .insert(databaseServers)
      .values({
        name: input.name,
        provider: input.provider ?? 'postgres',
        urlEncrypted: ctx.box.seal(input.url),
        host,
        capacity: input.capacity ?? 500,
      })
      .returning()) as [ServerRow];
  } catch (error) {
    if (pgCode(error) === '23505') throw conflict(`a server named "${input.name}" already exists`);
    throw error;
  }
  // New companies are cloned from the template: make it now rather than on the first create.
  row.templateVersion = await ensureTemplate(ctx, row.id);
  ctx.log.info({ serverId: row.id, name: row.name, host }, 'database server added');
  return toView(row, 0);
}

export async function updateServer(
  ctx: SiloContext,
  id: string,
  input: { status?: ServerStatus; capacity?: number },
): Promise<ServerView> {
  const [row] = await ctx.db
    .update(databaseServers)
    .set({ ...input, updatedAt: dsql`now()` })
    .where(eq(databaseServers.id, id))
    .returning();
  if (!row) throw notFound('database server');
  const counts = await companyCounts(ctx);
  return toView(row, counts.get(row.id) ?? 0);
}

/** On start: the server Silo itself runs on becomes the first database server, once. */
export async function registerDefaultServer(ctx: SiloContext, url: string): Promise<void> {
  const [any] = await ctx.db.select({ id: databaseServers.id }).from(databaseServers).limit(1);
  if (any) return;
  await ctx.db
    .insert(databaseServers)
    .values({ name: 'default', urlEncrypted: ctx.box.seal(url), host: hostOf(url) })
    .onConflictDoNothing({ target: databaseServers.name });
}
