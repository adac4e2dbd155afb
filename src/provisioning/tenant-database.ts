// Dropping a tenant's database and role: used by delete, by the saga's undo and by reconcile.
import type { Sql } from 'postgres';
import { quoteIdent, type TenantNames } from './names.ts';

/** Drops what exists of a tenant's database and role; `which` limits it to what a saga created. */
export async function dropTenantDatabase(
  admin: Sql,
  names: TenantNames,
  which: { database: boolean; role: boolean } = { database: true, role: true },
): Promise<void> {
  // WITH (FORCE) ends the tenant's own sessions first (Postgres 13+).
  if (which.database) await admin.unsafe(`drop database if exists ${quoteIdent(names.database)} with (force)`);
  if (which.role) await admin.unsafe(`drop role if exists ${quoteIdent(names.role)}`);
}
