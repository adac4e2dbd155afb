// Looking after system admins once they exist: list them, set a new password, remove one. A new
// password or a removal also ends every token the admin holds, in every instance. The last admin
// cannot be removed: nobody could then log in to the system plane.
import { asc, count, eq, sql } from 'drizzle-orm';
import { hashPassword } from '../base/auth/passwords.ts';
import { revokeTokens } from '../control-plane/token-subjects.ts';
import type { SiloContext } from '../context.ts';
import { systemUsers } from '../control-plane/schema.ts';
import { inTransaction } from '../base/db/transaction.ts';
import { conflict, notFound } from '../base/errors.ts';

export interface SystemAdminView {
  id: string;
  email: string;
  name: string | null;
  lastLoginAt: string | null;
  createdAt: string;
}

export async function listSystemAdmins(ctx: SiloContext): Promise<SystemAdminView[]> {
  const rows = await ctx.db.select().from(systemUsers).orderBy(asc(systemUsers.createdAt));
  return rows.map((r) => ({
    id: r.id,
    email: r.email,
    name: r.name,
    lastLoginAt: r.lastLoginAt?.toISOString() ?? null,
    createdAt: r.createdAt.toISOString(),
  }));
}

const byEmail = (email: string) => eq(sql`lower(${systemUsers.email})`, email.toLowerCase());

export async function resetSystemAdminPassword(ctx: SiloContext, email: string, password: string): Promise<{ id: string }> {
  const [row] = await ctx.db
    .update(systemUsers)
    .set({ passwordHash: await hashPassword(password) })
    .where(byEmail(email))
    .returning({ id: systemUsers.id });
  if (!row) throw notFound('system admin');
  await revokeTokens(ctx, { sub: row.id });
  ctx.log.info({ systemUserId: row.id }, 'system admin password reset');
  return row;
}

export async function removeSystemAdmin(ctx: SiloContext, email: string): Promise<{ id: string }> {
  const removed = await inTransaction(ctx.db, async (tx) => {
    // Two removals at once must not both see "another admin is left": the second waits here.
    await tx.execute(sql`lock table system_users in share row exclusive mode`);
    const [row] = await tx.select({ id: systemUsers.id }).from(systemUsers).where(byEmail(email));
    if (!row) throw notFound('system admin');
    const [all] = await tx.select({ n: count() }).from(systemUsers);
    if ((all?.n ?? 0) <= 1) throw conflict('the last system admin cannot be removed: create another one first');
    await tx.delete(systemUsers).where(eq(systemUsers.id, row.id));
    return row;
  });
  await revokeTokens(ctx, { sub: removed.id });
  ctx.log.info({ systemUserId: removed.id }, 'system admin removed');
  return removed;
}
