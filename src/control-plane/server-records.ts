// Database servers as the management database records them: list, change, and the two rows Silo
// makes itself (the default server on first start, the first external server). A server's URL
// holds its admin password (a neon server: its API key): it stays sealed here and only `host` is
// shown. Registering a server, which checks that it works, is src/operations/servers.ts.
import { randomUUID } from 'node:crypto';
import { asc, eq, sql as dsql } from 'drizzle-orm';
import { sealedAt } from '../base/crypto/credentials.ts';
import { conflict, notFound } from '../base/errors.ts';
import type { SiloContext } from '../context.ts';
import { databaseServers, type ServerRow, type ServerStatus } from './schema.ts';

export interface ServerView {
  id: string;
  name: string;
  provider: ServerRow['provider'];
  host: string;
  status: ServerStatus;
  placement: ServerRow['placement'];
  capacity: number;
  companies: number;
  templateVersion: string | null;
  reachable?: boolean;
  createdAt: string;
}

/** A postgres URL's host:port, the port spelled out and the host name in lower case (as DNS compares it). */
export function hostOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname.toLowerCase()}:${parsed.port || '5432'}`;
}

export async function companyCounts(ctx: SiloContext): Promise<Map<string, number>> {
  const rows = await ctx.db.execute<{ server_id: string; n: number }>(dsql`
    select server_id, count(*)::int as n from companies
    where status <> 'deleted' and server_id is not null group by server_id`);
  return new Map(rows.map((r) => [r.server_id, r.n]));
}

export function toServerView(row: ServerRow, companies: number): ServerView {
  return {
    id: row.id,
    name: row.name,
    provider: row.provider,
    host: row.host,
    status: row.status,
    placement: row.placement,
    capacity: row.capacity,
    companies,
    templateVersion: row.templateVersion,
    createdAt: row.createdAt.toISOString(),
  };
}

/** Every server, oldest first, with how many companies each holds. */
export async function listServers(ctx: SiloContext): Promise<ServerView[]> {
  const [rows, counts] = await Promise.all([
    ctx.db.select().from(databaseServers).orderBy(asc(databaseServers.createdAt)),
    companyCounts(ctx),
  ]);
  return rows.map((row) => toServerView(row, counts.get(row.id) ?? 0));
}

export async function updateServer(ctx: SiloContext, id: string, input: { status?: ServerStatus; capacity?: number }): Promise<ServerView> {
  const [row] = await ctx.db
    .update(databaseServers)
    .set({ ...input, updatedAt: dsql`now()` })
    .where(eq(databaseServers.id, id))
    .returning();
  if (!row) throw notFound('database server');
  const counts = await companyCounts(ctx);
  return toServerView(row, counts.get(row.id) ?? 0);
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
