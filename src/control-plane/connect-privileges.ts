// Who may connect to the databases that are not tenant databases. PostgreSQL lets every role
// (PUBLIC) connect to a new database; a tenant role that can reach the management database can
// LISTEN to and NOTIFY Silo's change channels, and read what PUBLIC may read. So CONNECT is
// revoked from PUBLIC on the management database at every start (a no-op once done), and on the
// embedded server's `postgres` and `template1`. docs/security-database.md has what an operator
// does for a server given by DATABASE_URL.
import type { Sql } from 'postgres';
import type { Logger } from '../base/logger.ts';
import { quoteIdent } from '../base/names.ts';

/** The embedded server's own databases, which nobody but its superuser needs to reach. */
export const EMBEDDED_MAINTENANCE_DATABASES = ['postgres', 'template1'] as const;

interface DatabaseAccess {
  name: string;
  publicCanConnect: boolean;
  /** The login owns the database (or is a superuser), so it may change its privileges. */
  mayGrant: boolean;
}

async function accessTo(sql: Sql, database: string | null): Promise<DatabaseAccess | undefined> {
  const [row] = await sql<DatabaseAccess[]>`
    select d.datname as name,
           has_database_privilege('public', d.oid, 'CONNECT') as "publicCanConnect",
           (select rolsuper from pg_roles where rolname = current_user) or pg_has_role(current_user, d.datdba, 'USAGE') as "mayGrant"
    from pg_database d where d.datname = coalesce(${database}, current_database())`;
  return row;
}

/**
 * Revokes CONNECT from PUBLIC on a database (the current one when `database` is null), first
 * granting it to the login itself so that Silo keeps its own access. A login that does not own the
 * database cannot: that is logged, once per start, for the operator to do.
 */
export async function closeToPublic(sql: Sql, log: Logger, database: string | null = null): Promise<void> {
  const access = await accessTo(sql, database);
  if (!access?.publicCanConnect) return;
  if (!access.mayGrant) {
    log.warn({ database: access.name }, 'every role may connect to this database: its owner should REVOKE CONNECT ... FROM PUBLIC');
    return;
  }
  const name = quoteIdent(access.name);
  try {
    await sql.unsafe(`grant connect, temporary on database ${name} to current_user`);
    await sql.unsafe(`revoke all on database ${name} from public`);
  } catch (error) {
    // Two instances starting together may update the catalog row at once ("tuple concurrently
    // updated"): what matters is that one of them did it.
    if ((await accessTo(sql, database))?.publicCanConnect !== false) throw error;
  }
}
