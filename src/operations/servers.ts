// Database servers that hold tenant databases: register, list, change. A server's URL holds its
// admin password (a neon server: its API key), so it is stored encrypted and only `host` is shown.
// Three providers (docs/scale-out.md): postgres servers Silo administers, the Neon API (a project
// per company), and `external` for databases that companies bring themselves.
import { randomUUID } from 'node:crypto';
import { asc, eq, sql as dsql } from 'drizzle-orm';
import type { SiloContext } from '../context.ts';
import { databaseServers, type ServerStatus } from '../control-plane/schema.ts';
import { sealedAt } from '../base/crypto/credentials.ts';
import { openPostgres } from '../base/db/postgres-client.ts';
import { conflict, describeError, invalid, notFound, pgCode, unavailable } from '../base/errors.ts';
import { ensureTemplate } from './provisioning/template.ts';
import { NEON_API_URL, NeonApi, neonError, type NeonSettings } from '../providers/neon/api.ts';
import { neonServer } from '../providers/neon/servers.ts';

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

async function isReachable(ctx: SiloContext, server: ServerView): Promise<boolean> {
  // An external server is a label: each of its databases is checked on its own (database/test).
  if (server.provider === 'external') return true;
  try {
    await Promise.race([
      server.provider === 'neon'
        ? await neonServer(ctx, server.id).then(({ api, settings }) => api.checkKey(settings.orgId, { once: true }))
        : (await ctx.servers.admin(server.id))`select 1`,
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
    await Promise.all(views.map(async (v) => (v.reachable = await isReachable(ctx, v))));
  }
  return views;
}

export interface AddServerInput {
  name: string;
  /** postgres: an admin connection string. neon: the API's base URL (default: Neon's). */
  url?: string | undefined;
  capacity?: number | undefined;
  provider?: ServerRow['provider'] | undefined;
  /** neon only. */
  apiKey?: string | undefined;
  neon?: NeonSettings | undefined;
}

/** Checks that the URL reaches a server where its login may create databases and roles. */
async function checkAdminLogin(url: string): Promise<void> {
  const probe = openPostgres(url, { max: 1, connect_timeout: 5, onnotice: () => {}, prepare: false });
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

/**
 * What a new server row stores, per provider, after checking that it works. The id is chosen here,
 * before the insert, because each sealed value is bound to its row.
 */
async function checkedServerValues(ctx: SiloContext, id: string, input: AddServerInput) {
  const provider = input.provider ?? 'postgres';
  if (provider === 'external') return { provider, urlEncrypted: null, apiKeyEncrypted: null, host: 'external', settings: {} };
  const url = input.url ?? (provider === 'neon' ? NEON_API_URL : undefined);
  if (!url) throw invalid('url is required for a postgres server', [{ path: 'url', message: 'required' }]);
  let host: string;
  try {
    host = provider === 'neon' ? new URL(url).host : hostOf(url);
  } catch {
    throw invalid('url is not a valid URL', [{ path: 'url', message: 'not a URL' }]);
  }
  if (provider === 'postgres') {
    await checkAdminLogin(url);
    return { provider, urlEncrypted: ctx.box.seal(url, sealedAt.serverUrl(id)), apiKeyEncrypted: null, host, settings: {} };
  }
  if (!input.apiKey) throw invalid('apiKey is required for a neon server', [{ path: 'apiKey', message: 'required' }]);
  const settings = input.neon ?? {};
  try {
    await new NeonApi(url, input.apiKey, { timeoutMs: 10_000 }).checkKey(settings.orgId);
  } catch (error) {
    throw neonError(error);
  }
  return {
    provider,
    urlEncrypted: ctx.box.seal(url, sealedAt.serverUrl(id)),
    apiKeyEncrypted: ctx.box.seal(input.apiKey, sealedAt.serverApiKey(id)),
    host,
    settings: { ...settings },
  };
}

export async function addServer(ctx: SiloContext, input: AddServerInput): Promise<ServerView> {
  const [existing] = await ctx.db.select({ id: databaseServers.id }).from(databaseServers).where(eq(databaseServers.name, input.name));
  if (existing) throw conflict(`a server named "${input.name}" already exists`);
  const id = randomUUID();
  const values = await checkedServerValues(ctx, id, input);
  let row: ServerRow;
  try {
    [row] = (await ctx.db
      .insert(databaseServers)
      .values({ id, name: input.name, ...values, capacity: input.capacity ?? 500 })
      .returning()) as [ServerRow];
  } catch (error) {
    if (pgCode(error) === '23505') throw conflict(`a server named "${input.name}" already exists`);
    throw error;
  }
  // New companies on a postgres server are cloned from its template: make it now, not on the
  // first create. Neon projects and external databases are migrated instead.
  if (row.provider === 'postgres') row.templateVersion = await ensureTemplate(ctx, row.id);
  ctx.log.info({ serverId: row.id, name: row.name, provider: row.provider, host: row.host }, 'database server added');
  return toView(row, 0);
}

export async function updateServer(ctx: SiloContext, id: string, input: { status?: ServerStatus; capacity?: number }): Promise<ServerView> {
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
  const id = randomUUID();
  await ctx.db
    .insert(databaseServers)
    .values({ id, name: 'default', urlEncrypted: ctx.box.seal(url, sealedAt.serverUrl(id)), host: hostOf(url) })
    .onConflictDoNothing({ target: databaseServers.name });
}

/**
 * The external server a bring-your-own company is registered under when none is named: the
 * active one with the most room; the first, named `external`, is made when there is none at all.
 */
export async function ensureExternalServer(ctx: SiloContext): Promise<string> {
  const externals = async () =>
    ctx.db.execute<{ id: string; status: ServerStatus }>(dsql`
      select s.id, s.status from database_servers s where s.provider = 'external'
      order by s.status = 'active' desc,
               s.capacity - (select count(*) from companies c where c.server_id = s.id and c.status <> 'deleted') desc,
               s.created_at
      limit 1`);
  let [found] = await externals();
  if (!found) {
    // Large capacity: these databases take no room on any server Silo runs.
    await ctx.db
      .insert(databaseServers)
      .values({ name: 'external', provider: 'external', host: 'external', capacity: 100_000 })
      .onConflictDoNothing({ target: databaseServers.name });
    [found] = await externals();
    if (!found) throw conflict('a server named "external" exists and is not an external server; register one with provider "external"');
  }
  // An inactive one is returned all the same: placement then says that it takes no new companies.
  return found.id;
}
