// A sign-up's claim on a warm database (warm-pool.ts). One ready row at the latest tenant schema
// version is taken and deleted in one statement (DELETE ... WHERE id = (SELECT ... FOR UPDATE SKIP
// LOCKED)), so concurrent sign-ups on every instance each get a different one, or none. Then, in
// one implicit transaction on the server, the database and its NOLOGIN owner role become the
// company's: the role renamed to the company's role name and given LOGIN, its connection limit and
// its password's SCRAM verifier, the database renamed to the company's database name. Nothing has
// to connect to the database: its objects already belong to that role.
import type { SiloContext } from '../../context.ts';
import { isConnectionError, pgCode } from '../../base/errors.ts';
import { quoteIdent, quoteLiteral, type TenantNames } from '../../base/names.ts';
import { connectionLimitClause } from './connection-limit.ts';

const OBJECT_IN_USE = '55006';
/** The warm database or its role is gone (reconcile removed it meanwhile): the sign-up clones. */
const GONE = new Set(['42704', '3D000']);

/**
 * Claims a warm database on `serverId` for the company named `names`, logging in with the password
 * whose verifier is given. Answers the schema version it has, or null when the pool had none to
 * give (the caller clones). `created` is set as soon as the company's role and database may exist,
 * so that the saga's undo drops them.
 */
export async function claimWarmDatabase(
  ctx: SiloContext,
  serverId: string,
  names: TenantNames,
  verifier: Promise<string>,
  created: { role: boolean; database: boolean },
): Promise<string | null> {
  const latest = ctx.tenantMigrations.latest;
  if (ctx.config.warmPool === 0 || latest === null) return null;
  const admin = await ctx.servers.admin(serverId);
  const [warm] = await ctx.sql<{ id: string; name: string; createdAt: Date }[]>`
    delete from warm_databases where id = (
      select id from warm_databases
      where server_id = ${serverId} and status = 'ready' and template_version = ${latest}
      order by created_at limit 1 for update skip locked)
    returning id, name, created_at as "createdAt"`;
  if (!warm) return null;
  const from = quoteIdent(warm.name);
  const role = quoteIdent(names.role);
  try {
    // One simple query: Postgres runs its statements as one transaction, all or nothing.
    await admin.unsafe(
      `alter role ${from} rename to ${role}; ` +
        `alter role ${role} login ${connectionLimitClause(ctx.config.tenantConnectionLimit)} password ${quoteLiteral(await verifier)}; ` +
        `alter database ${from} rename to ${quoteIdent(names.database)}`,
    );
  } catch (error) {
    if (isConnectionError(error)) {
      // Lost on the way: the renames may have happened, and the undo must look for them. If they
      // did not, the warm database is left without its row, which reconcile removes.
      Object.assign(created, { role: true, database: true });
      throw error;
    }
    if (GONE.has(pgCode(error) ?? '')) return null;
    // Nothing changed on the server: the database goes back to the pool.
    await ctx.sql`
      insert into warm_databases (id, server_id, name, status, template_version, created_at)
      values (${warm.id}, ${serverId}, ${warm.name}, 'ready', ${latest}, ${warm.createdAt})`.catch(() => {});
    // Someone is connected to it (a refill's session not yet gone): clone instead.
    if (pgCode(error) === OBJECT_IN_USE) return null;
    throw error;
  }
  Object.assign(created, { role: true, database: true });
  return latest;
}
