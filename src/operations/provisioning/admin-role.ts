// Facts about the admin login of a database server that provisioning depends on.
import type { Sql } from 'postgres';
import { quoteIdent } from '../../base/names.ts';

const superuserBySql = new WeakMap<Sql, Promise<boolean>>();

/** Whether the server's admin login is a superuser (cached per admin pool). */
export function adminIsSuperuser(admin: Sql): Promise<boolean> {
  let known = superuserBySql.get(admin);
  if (!known) {
    known = admin<{ rolsuper: boolean }[]>`select rolsuper from pg_roles where rolname = current_user`.then(
      (rows) => rows[0]?.rolsuper === true,
    );
    known.catch(() => superuserBySql.delete(admin));
    superuserBySql.set(admin, known);
  }
  return known;
}

/**
 * A non-superuser admin (CREATEROLE + CREATEDB) must be a member of a role to create a database
 * owned by it or to act as it (Postgres 16+); a superuser needs nothing.
 */
export async function letAdminActAs(admin: Sql, role: string): Promise<void> {
  if (await adminIsSuperuser(admin)) return;
  await admin.unsafe(`grant ${quoteIdent(role)} to current_user`);
}
