// Changing a registered database server after the fact: its URL or API key (checked before they
// are stored), whether ordinary sign-ups may land on it (placement), and removing it once it holds
// nothing. Every instance forgets what it cached about a changed server (a NOTIFY on the
// management database), so that the next connection uses the new URL.
import { and, eq, isNull, ne, or, sql as dsql } from 'drizzle-orm';
import type { SiloContext } from '../context.ts';
import { companies, databaseLeftovers, databaseServers, type ServerStatus, warmDatabases } from '../control-plane/schema.ts';
import { sealedAt } from '../base/crypto/credentials.ts';
import { openPostgres } from '../base/db/postgres-client.ts';
import { inTransaction } from '../base/db/transaction.ts';
import { conflict, invalid, notFound } from '../base/errors.ts';
import { NeonApi, neonError, type NeonSettings } from '../providers/neon/api.ts';
import type { ServerRow } from '../control-plane/schema.ts';
import { companyCounts, hostOf, type ServerView, toServerView as toView } from '../control-plane/server-records.ts';
import { checkAdminLogin } from './servers.ts';
import { emptyWarmPool } from './provisioning/warm-pool.ts';
import { clusterOf, refuseRegistered, writeIfFree } from './server-clusters.ts';

const SERVER_CHANGED_CHANNEL = 'silo_server_changed';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface ServerChange {
  status?: ServerStatus | undefined;
  capacity?: number | undefined;
  placement?: ServerRow['placement'] | undefined;
  /** postgres: a new admin connection string. neon: the API's base URL. */
  url?: string | undefined;
  /** neon: a new API key. */
  apiKey?: string | undefined;
}

/** Forget the server's admin pool and the pools of the companies on it, in this instance. */
async function forgetServer(ctx: SiloContext, serverId: string): Promise<void> {
  await ctx.servers.forget(serverId);
  const onIt = await ctx.db.select({ id: companies.id }).from(companies).where(eq(companies.serverId, serverId));
  for (const { id } of onIt) ctx.tenants.forget(id);
}

/** For `npm start`: changes made by other instances (or the CLI) reach this one's caches. */
export async function listenForServerChanges(ctx: SiloContext): Promise<void> {
  await ctx.sql.listen(SERVER_CHANGED_CHANNEL, (payload) => {
    if (!UUID.test(payload)) return;
    forgetServer(ctx, payload).catch((error: Error) =>
      ctx.log.warn({ serverId: payload, error: error.message }, 'could not forget a server'),
    );
  });
}

/** A new URL for a postgres server must reach the databases already on it. */
async function checkSameDatabases(ctx: SiloContext, row: ServerRow, url: string): Promise<void> {
  await checkAdminLogin(url);
  const held = await ctx.db
    .select({ database: companies.databaseName })
    .from(companies)
    .where(and(eq(companies.serverId, row.id), ne(companies.status, 'deleted'), ne(companies.status, 'failed')));
  const names = held.map((h) => h.database).filter((n): n is string => n !== null);
  if (names.length === 0) return;
  const probe = openPostgres(url, { max: 1, connect_timeout: 5, onnotice: () => {}, prepare: false });
  try {
    const [found] = await probe<{ n: number }[]>`select count(*)::int as n from pg_database where datname = any(${names})`;
    const missing = names.length - (found?.n ?? 0);
    if (missing > 0) {
      throw invalid(`the new url reaches a server without ${missing} of the ${names.length} databases on this one`, [
        { path: 'url', message: 'another server' },
      ]);
    }
  } finally {
    await probe.end({ timeout: 2 });
  }
}

/** The sealed values (and host) a new URL or API key would store, checked first. */
async function checkedSecrets(ctx: SiloContext, row: ServerRow, change: ServerChange) {
  if (change.url === undefined && change.apiKey === undefined) return {};
  if (row.provider === 'external') throw invalid('an external server has no URL or API key', [{ path: 'url', message: 'external' }]);
  if (row.provider === 'postgres') {
    if (change.apiKey !== undefined) throw invalid('apiKey is for neon servers only', [{ path: 'apiKey', message: 'neon only' }]);
    const url = change.url!;
    if (!/^postgres(ql)?:\/\/.+/.test(url))
      throw invalid('url must be a postgres:// or postgresql:// URL', [{ path: 'url', message: 'not a postgres URL' }]);
    await refuseRegistered(ctx.db, clusterOf({ ...row, host: hostOf(url) }), row.id);
    await checkSameDatabases(ctx, row, url);
    return { urlEncrypted: ctx.box.seal(url, sealedAt.serverUrl(row.id)), host: hostOf(url) };
  }
  const url = change.url ?? ctx.box.open(row.urlEncrypted!, sealedAt.serverUrl(row.id));
  const apiKey = change.apiKey ?? ctx.box.open(row.apiKeyEncrypted!, sealedAt.serverApiKey(row.id));
  if (!/^https?:\/\/.+/.test(url)) throw invalid('url must be the http(s) URL of the Neon API', [{ path: 'url', message: 'not http(s)' }]);
  await refuseRegistered(ctx.db, clusterOf({ ...row, host: new URL(url).host }), row.id);
  try {
    await new NeonApi(url, apiKey, { timeoutMs: 10_000 }).checkKey((row.settings as NeonSettings).orgId);
  } catch (error) {
    throw neonError(error);
  }
  return {
    urlEncrypted: ctx.box.seal(url, sealedAt.serverUrl(row.id)),
    apiKeyEncrypted: ctx.box.seal(apiKey, sealedAt.serverApiKey(row.id)),
    host: new URL(url).host,
  };
}

export async function changeServer(ctx: SiloContext, id: string, change: ServerChange): Promise<ServerView> {
  const [current] = await ctx.db.select().from(databaseServers).where(eq(databaseServers.id, id));
  if (!current) throw notFound('database server');
  const secrets = await checkedSecrets(ctx, current, change);
  const { status, capacity, placement } = change;
  // A new URL is written only if its cluster is still free (another change may have taken it).
  const cluster = secrets.host ? clusterOf({ ...current, host: secrets.host }) : undefined;
  const [row] = await writeIfFree(ctx, cluster, id, (tx) =>
    tx
      .update(databaseServers)
      .set({ status, capacity, placement, ...secrets, updatedAt: dsql`now()` })
      .where(eq(databaseServers.id, id))
      .returning(),
  );
  if (!row) throw notFound('database server');
  if (secrets.urlEncrypted) {
    await forgetServer(ctx, id);
    await ctx.sql`select pg_notify(${SERVER_CHANGED_CHANNEL}, ${id})`;
    ctx.log.info({ serverId: id, host: row.host }, 'database server connection changed');
  }
  return toView(row, (await companyCounts(ctx)).get(id) ?? 0);
}

/**
 * Removes a server entry that holds nothing: no company (but deleted ones, which keep their names
 * for the audit trail), no move to or from it, no leftover still to drop.
 */
export async function removeServer(ctx: SiloContext, id: string): Promise<void> {
  // Warm databases are no company's: they do not keep a server, and go first.
  await emptyWarmPool(ctx, id);
  await inTransaction(ctx.db, async (tx) => {
    // Locked first: a sign-up placing a company on it waits, then finds it gone.
    const [row] = await tx.select({ id: databaseServers.id }).from(databaseServers).where(eq(databaseServers.id, id)).for('update');
    if (!row) throw notFound('database server');
    const [used] = await tx
      .select({ id: companies.id })
      .from(companies)
      .where(and(or(eq(companies.serverId, id), eq(companies.movingTo, id)), ne(companies.status, 'deleted')))
      .limit(1);
    if (used) throw conflict('the server still holds companies: move them elsewhere (or delete them) first');
    const [open] = await tx
      .select({ id: databaseLeftovers.id })
      .from(databaseLeftovers)
      .where(and(eq(databaseLeftovers.serverId, id), isNull(databaseLeftovers.removedAt)))
      .limit(1);
    if (open) throw conflict('databases left on the server are still to be dropped: run "silo reconcile --fix" first');
    await tx.update(companies).set({ serverId: null }).where(eq(companies.serverId, id));
    await tx.update(companies).set({ movingTo: null }).where(eq(companies.movingTo, id));
    await tx.delete(databaseLeftovers).where(eq(databaseLeftovers.serverId, id));
    await tx.delete(warmDatabases).where(eq(warmDatabases.serverId, id));
    await tx.delete(databaseServers).where(eq(databaseServers.id, id));
  });
  await forgetServer(ctx, id);
  await ctx.sql`select pg_notify(${SERVER_CHANGED_CHANNEL}, ${id})`;
  ctx.log.info({ serverId: id }, 'database server removed');
}
