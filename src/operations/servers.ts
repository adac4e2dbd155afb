// Database servers that hold tenant databases: registering one (after checking that it works) and
// probing them. Three providers (docs/scale-out.md): postgres servers Silo administers, the Neon
// API (a project per company), and `external` for databases that companies bring themselves. The
// records themselves (list, change) are src/control-plane/server-records.ts.
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { SiloContext } from '../context.ts';
import { databaseServers, type ServerRow } from '../control-plane/schema.ts';
import { hostOf, listServers, type ServerView, toServerView } from '../control-plane/server-records.ts';
import { sealedAt } from '../base/crypto/credentials.ts';
import { ONE_CONNECTION, openPostgres } from '../base/db/postgres-client.ts';
import { conflict, describeError, invalid, pgCode, unavailable } from '../base/errors.ts';
import { ensureTemplate } from './provisioning/template.ts';
import { NEON_API_URL, NeonApi, neonError, type NeonSettings } from '../providers/neon/api.ts';
import { checkNeonAccount } from '../providers/neon/registration.ts';
import { neonServer } from '../providers/neon/servers.ts';
import { clusterOf, refuseRegistered, writeIfFree } from './server-clusters.ts';

const PROBE_MS = 3000;

/**
 * Why Silo cannot reach the server now (undefined: it can), within 3 s: a postgres server by its
 * admin login, a neon server by one call the API must accept its key for (never retried: a probe
 * must not spend the rate limit). An external server is a label: each of its databases is
 * checked on its own (database/test).
 */
export async function whyUnreachable(ctx: SiloContext, server: Pick<ServerView, 'id' | 'provider'>): Promise<string | undefined> {
  if (server.provider === 'external') return undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      server.provider === 'neon'
        ? neonServer(ctx, server.id).then(({ api, settings }) => api.checkKey(settings.orgId, { once: true }))
        : ctx.servers.admin(server.id).then((admin) => admin`select 1`),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_MS / 1000} s`)), PROBE_MS);
      }),
    ]);
    return undefined;
  } catch (error) {
    return describeError(server.provider === 'neon' ? neonError(error) : error);
  } finally {
    clearTimeout(timer);
  }
}

export interface AddServerInput {
  name: string;
  /** postgres: an admin connection string. neon: the API's base URL (default: Neon's). */
  url?: string | undefined;
  capacity?: number | undefined;
  placement?: ServerRow['placement'] | undefined;
  provider?: ServerRow['provider'] | undefined;
  /** neon only. */
  apiKey?: string | undefined;
  neon?: NeonSettings | undefined;
}

/** Checks that the URL reaches a server where its login may create databases and roles. */
export async function checkAdminLogin(url: string): Promise<void> {
  const probe = openPostgres(url, ONE_CONNECTION);
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
  if (provider === 'external')
    return { provider, urlEncrypted: null, apiKeyEncrypted: null, host: 'external', settings: {}, capacity: 500 };
  const url = input.url ?? (provider === 'neon' ? NEON_API_URL : undefined);
  if (!url) throw invalid('url is required for a postgres server', [{ path: 'url', message: 'required' }]);
  let host: string;
  try {
    host = provider === 'neon' ? new URL(url).host : hostOf(url);
  } catch {
    throw invalid('url is not a valid URL', [{ path: 'url', message: 'not a URL' }]);
  }
  // Refused before the connection is probed when the place is known to be taken already.
  const known = provider === 'postgres' || input.neon?.orgId;
  if (known) await refuseRegistered(ctx.db, clusterOf({ provider, host, settings: { ...input.neon } }));
  if (provider === 'postgres') {
    await checkAdminLogin(url);
    return { provider, urlEncrypted: ctx.box.seal(url, sealedAt.serverUrl(id)), apiKeyEncrypted: null, host, settings: {}, capacity: 500 };
  }
  if (!input.apiKey) throw invalid('apiKey is required for a neon server', [{ path: 'apiKey', message: 'required' }]);
  const account = await checkNeonAccount(new NeonApi(url, input.apiKey, { timeoutMs: 10_000 }), input.neon ?? {});
  return {
    provider,
    urlEncrypted: ctx.box.seal(url, sealedAt.serverUrl(id)),
    apiKeyEncrypted: ctx.box.seal(input.apiKey, sealedAt.serverApiKey(id)),
    host,
    settings: { ...account.settings },
    // One project per company: the plan's project limit, unless the caller knows better.
    capacity: account.projectLimit,
  };
}

export async function addServer(ctx: SiloContext, input: AddServerInput): Promise<ServerView> {
  const [existing] = await ctx.db.select({ id: databaseServers.id }).from(databaseServers).where(eq(databaseServers.name, input.name));
  if (existing) throw conflict(`a server named "${input.name}" already exists`);
  const id = randomUUID();
  const { capacity, ...values } = await checkedServerValues(ctx, id, input);
  let row: ServerRow;
  try {
    [row] = await writeIfFree(
      ctx,
      clusterOf(values),
      undefined,
      async (tx) =>
        (await tx
          .insert(databaseServers)
          .values({ id, name: input.name, ...values, capacity: input.capacity ?? capacity, placement: input.placement ?? 'automatic' })
          .returning()) as [ServerRow],
    );
  } catch (error) {
    if (pgCode(error) === '23505') throw conflict(`a server named "${input.name}" already exists`);
    throw error;
  }
  // New companies on a postgres server are cloned from its template: make it now, not on the
  // first create. Neon projects and external databases are migrated instead.
  if (row.provider === 'postgres') row.templateVersion = await ensureTemplate(ctx, row.id);
  ctx.log.info({ serverId: row.id, name: row.name, provider: row.provider, host: row.host }, 'database server added');
  return toServerView(row, 0);
}

/** Every server, each probed: whether Silo can reach it now (3 s at most). */
export async function listServersProbed(ctx: SiloContext): Promise<ServerView[]> {
  const views = await listServers(ctx);
  await Promise.all(views.map(async (v) => (v.reachable = (await whyUnreachable(ctx, v)) === undefined)));
  return views;
}
