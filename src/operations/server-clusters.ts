// One server entry per cluster. Two entries for the same PostgreSQL cluster would count its room
// twice and, worse, let a move "between" them copy a database onto itself and then drop the
// source; two for the same Neon organisation and region would count the plan's project limit
// twice. So registering a server, or changing its URL, is refused (409) when another entry
// already stands for the same place:
//   - postgres: the same host:port (host name compared in lower case, port 5432 when none is
//     given). The database in the URL does not matter: Silo creates databases in the cluster.
//     Two names for one machine (localhost and 127.0.0.1, a DNS alias) are not recognised;
//   - neon: the same API host, organisation and region (a region left to Neon's default counts
//     as its own value);
//   - external servers are labels and never conflict.
// The check runs once before the connection is probed (a fast answer) and again, under a
// transaction-level advisory lock, in the transaction that writes the row, so that two
// registrations at once cannot both find the cluster free.
import { sql as dsql } from 'drizzle-orm';
import type { SiloContext } from '../context.ts';
import type { ServerRow } from '../control-plane/schema.ts';
import { LOCK_CLASS } from '../base/db/advisory-lock.ts';
import { inTransaction } from '../base/db/transaction.ts';
import { conflict } from '../base/errors.ts';

export interface Cluster {
  provider: 'postgres' | 'neon';
  /** postgres: host:port. neon: the API's host. Lower case. */
  host: string;
  orgId: string;
  regionId: string;
}

/** The cluster a server entry would stand for; none for an external one. */
export function clusterOf(row: Pick<ServerRow, 'provider' | 'host'> & { settings: Record<string, unknown> }): Cluster | undefined {
  if (row.provider === 'external') return undefined;
  const setting = (key: string) => (typeof row.settings[key] === 'string' ? (row.settings[key] as string) : '');
  return { provider: row.provider, host: row.host.toLowerCase(), orgId: setting('orgId'), regionId: setting('regionId') };
}

type Db = SiloContext['db'];

/** Refuses (409) when a server other than `exceptId` already stands for `cluster`. */
export async function refuseRegistered(db: Db, cluster: Cluster | undefined, exceptId?: string): Promise<void> {
  if (!cluster) return;
  // lower(host): rows stored before host names were lower-cased.
  const [taken] = await db.execute<{ name: string }>(dsql`
    select name from database_servers
    where provider = ${cluster.provider} and lower(host) = ${cluster.host}
      and coalesce(settings->>'orgId', '') = ${cluster.orgId}
      and coalesce(settings->>'regionId', '') = ${cluster.regionId}
      and id <> ${exceptId ?? '00000000-0000-0000-0000-000000000000'}
    limit 1`);
  if (!taken) return;
  const what =
    cluster.provider === 'postgres'
      ? `the PostgreSQL cluster at ${cluster.host}`
      : `Neon organization ${cluster.orgId}${cluster.regionId ? ` in region ${cluster.regionId}` : ''} through ${cluster.host}`;
  throw conflict(
    `${what} is already registered as server "${taken.name}"; change that server instead (PATCH /api/servers/:id, silo servers update)`,
  );
}

/** Runs `write` in a transaction in which `cluster` was found free, serialised with every other. */
export async function writeIfFree<T>(
  ctx: SiloContext,
  cluster: Cluster | undefined,
  exceptId: string | undefined,
  write: (tx: Db) => Promise<T>,
): Promise<T> {
  return inTransaction(ctx.db, async (tx) => {
    await tx.execute(dsql`select pg_advisory_xact_lock(${LOCK_CLASS.serverCluster}, 0)`);
    await refuseRegistered(tx, cluster, exceptId);
    return write(tx);
  });
}
